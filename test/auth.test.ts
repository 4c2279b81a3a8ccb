// Who may call paycore (docs/security.md), over real gRPC and TLS against a running stack:
// client certificates from the stack's CA, app keys signing each request, roles, merchants.

import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { signRequest, type AppKeyCredentials } from '../core/auth/app-key';
import { channelCredentials, clientOptions, type ClientAuth } from '../testing/auth-client';
import { PaycoreClient } from '../testing/client';
import { ensureDevPki } from '../testing/dev/dev-certs';
import { decodeServiceError } from '../core/errors';
import { app_admin_service } from '../core/gateway/app-admin';
import { merchant_admin_service, routing_admin_service } from '../core/gateway/admin';
import { notification_admin_service } from '../core/gateway/notify-admin';
import type { App, RotateAppKeyResponse } from '../proto/gen/paycore/v1/admin';
import { CreatePaymentRequest, PaymentStatus, Product } from '../proto/gen/paycore/v1/payment';
import { PaycoreProcess, eventually, freePort, startStack, type Stack } from './harness';

let stack: Stack;
let other_ca_dir: string;

beforeAll(async () => {
  stack = await startStack();
  other_ca_dir = mkdtempSync(path.join(tmpdir(), 'paycore-other-ca-'));
});

afterAll(async () => {
  await stack?.stop();
  if (other_ca_dir !== undefined) rmSync(other_ca_dir, { recursive: true, force: true });
});

type AnyClient = grpc.Client & Record<string, (request: unknown, callback: (error: grpc.ServiceError | null, value: unknown) => void) => void>;

function call<T>(client: AnyClient, method: string, request: unknown): Promise<T> {
  return new Promise((resolve, reject) => client[method]!(request, (error, value) => (error ? reject(error) : resolve(value as T))));
}

async function admin<T>(definition: grpc.ServiceDefinition, name: string, method: string, request: unknown, auth?: ClientAuth): Promise<T> {
  const client = stack.serviceClient<AnyClient>(definition, name, auth);
  try {
    return await call<T>(client, method, request);
  } finally {
    client.close();
  }
}

/** The error a promise rejects with, decoded (code and ErrorInfo reason). */
async function refusal(promise: Promise<unknown>): Promise<{ code: number; reason?: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    const decoded = decodeServiceError(error as grpc.ServiceError);
    return { code: decoded.code, reason: decoded.reason, message: decoded.message };
  }
  throw new Error('expected the call to be refused');
}

async function upsertApp(app_id: string, merchants: string[] | '*', roles: string[]): Promise<App> {
  const app = { appId: app_id, merchantIds: merchants === '*' ? [] : merchants, allMerchants: merchants === '*', roles, keys: [] };
  return (await admin<{ app: App }>(app_admin_service, 'AppAdminService', 'upsertApp', { app })).app;
}

const tls_only = (): ClientAuth => ({ ca: stack.auth().ca!, server_name: 'localhost' });

function createRequest(merchant_id: string, order_no = `au-${randomBytes(5).toString('hex')}`): Partial<CreatePaymentRequest> {
  return { merchantId: merchant_id, merchantOrderNo: order_no, amount: 1200n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'auth' };
}

/** Whether paycore holds the payment (asked as the stack's admin app): NOT_FOUND is false. */
async function stored(merchant_id: string, order_no: string): Promise<boolean> {
  try {
    await stack.client.getPayment({ merchantId: merchant_id, merchantOrderNo: order_no });
    return true;
  } catch (error) {
    if ((error as grpc.ServiceError).code === grpc.status.NOT_FOUND) return false;
    throw error;
  }
}

describe('caller identity', () => {
  test('auth - no client certificate and no app key is UNAUTHENTICATED, and nothing is stored', async () => {
    const anonymous = new PaycoreClient(stack.address, tls_only());
    const request = createRequest('m_it');
    try {
      expect(await refusal(anonymous.createPayment(request))).toMatchObject({ code: grpc.status.UNAUTHENTICATED, reason: 'UNAUTHENTICATED' });
      expect(await refusal(anonymous.getPayment({ merchantId: 'm_it', merchantOrderNo: 'x1' }))).toMatchObject({ code: grpc.status.UNAUTHENTICATED, reason: 'UNAUTHENTICATED' });
    } finally {
      anonymous.close();
    }
    expect(await stored('m_it', request.merchantOrderNo!)).toBe(false);
  });

  test('auth - a client certificate from another CA is refused in the handshake', async () => {
    const foreign = ensureDevPki(other_ca_dir, [stack_app_name()]);
    const files = foreign.app(stack_app_name());
    const { readFileSync } = await import('node:fs');
    const impostor = new PaycoreClient(stack.address, { ca: stack.auth().ca!, cert: readFileSync(files.cert_file), key: readFileSync(files.key_file), server_name: 'localhost' });
    const request = createRequest('m_it');
    try {
      // No TLS session, so no call ever reaches paycore: UNAVAILABLE, not a paycore status.
      const refused = await refusal(impostor.createPayment(request, 10_000));
      expect(refused.code).toBe(grpc.status.UNAVAILABLE);
      expect(refused.reason).toBeUndefined();
    } finally {
      impostor.close();
    }
    expect(await stored('m_it', request.merchantOrderNo!)).toBe(false);
  });

  test('auth - a certificate from the right CA naming an app the registry does not know is UNAUTHENTICATED', async () => {
    const stranger = new PaycoreClient(stack.address, stack.auth('not_registered'));
    try {
      expect(await refusal(stranger.getPayment({ merchantId: 'm_it', merchantOrderNo: 'x1' }))).toMatchObject({ code: grpc.status.UNAUTHENTICATED, reason: 'UNAUTHENTICATED' });
    } finally {
      stranger.close();
    }
  });

  test('auth - health answers without credentials; reflection needs an authenticated caller', async () => {
    const loader = require('@grpc/proto-loader') as typeof import('@grpc/proto-loader');
    const proto_file = require.resolve('@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto');
    const definition = grpc.loadPackageDefinition(loader.loadSync(proto_file, { keepCase: true })) as unknown as {
      grpc: { reflection: { v1: { ServerReflection: { service: grpc.ServiceDefinition } } } };
    };
    const client = stack.serviceClient<grpc.Client & { ServerReflectionInfo(): grpc.ClientDuplexStream<unknown, unknown> }>(definition.grpc.reflection.v1.ServerReflection.service, 'ServerReflection', tls_only());
    const refused = await new Promise<grpc.ServiceError>((resolve, reject) => {
      const stream = client.ServerReflectionInfo();
      stream.on('data', () => reject(new Error('reflection answered an anonymous caller')));
      stream.on('error', resolve);
      stream.write({ list_services: '*' });
    });
    client.close();
    expect(decodeServiceError(refused)).toMatchObject({ code: grpc.status.UNAUTHENTICATED, reason: 'UNAUTHENTICATED' });
  });
});

function stack_app_name(): string {
  return 'it_admin';
}

// ---- app keys ------------------------------------------------------------------------------

/** One CreatePayment with hand-made app-key headers, so each header can be spoiled. */
function signedCreate(
  request: CreatePaymentRequest,
  key: AppKeyCredentials,
  spoil: (m: grpc.Metadata) => void = () => undefined,
  now_ms = Date.now(),
): Promise<unknown> {
  const path_ = '/paycore.v1.PaymentService/CreatePayment';
  const bytes = Buffer.from(CreatePaymentRequest.encode(request).finish());
  const metadata = new grpc.Metadata();
  signRequest(metadata, key, path_, bytes, now_ms);
  spoil(metadata);
  return raw(path_, bytes, metadata);
}

function raw(method_path: string, bytes: Buffer, metadata: grpc.Metadata, auth: ClientAuth = tls_only()): Promise<unknown> {
  const client = new grpc.Client(stack.address, channelCredentials(auth), clientOptions(auth));
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(method_path, (b: Buffer) => b, (b: Buffer) => b, bytes, metadata, { deadline: Date.now() + 10_000 }, (error, value) => {
      client.close();
      if (error) reject(error);
      else resolve(value);
    }),
  );
}

function fullCreate(merchant_id: string): CreatePaymentRequest {
  return CreatePaymentRequest.fromPartial(createRequest(merchant_id));
}

async function rotate(app_id: string): Promise<AppKeyCredentials> {
  const rotated = await admin<RotateAppKeyResponse>(app_admin_service, 'AppAdminService', 'rotateAppKey', { appId: app_id });
  return { app_id, key_id: rotated.keyId, secret: rotated.secret };
}

describe('app keys', () => {
  let key: AppKeyCredentials;

  beforeAll(async () => {
    await upsertApp('key_app', ['m_it'], ['payments:write', 'payments:read']);
    key = await rotate('key_app');
  });

  test('auth - a request signed with the app key is accepted; the key secret is never shown again', async () => {
    const client = new PaycoreClient(stack.address, { ...tls_only(), app_key: key });
    try {
      const payment = await client.createPayment(createRequest('m_it'));
      expect(payment.status).toBe(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);
      expect((await client.getPayment({ paymentId: payment.paymentId, merchantId: 'm_it' })).paymentId).toBe(payment.paymentId);
    } finally {
      client.close();
    }
    const { app } = await admin<{ app: App }>(app_admin_service, 'AppAdminService', 'getApp', { appId: 'key_app' });
    expect(app.keys).toEqual([expect.objectContaining({ keyId: key.key_id, state: 'CURRENT', last4: key.secret.slice(-4) })]);
    expect(JSON.stringify(app)).not.toContain(key.secret);
  });

  test('auth - a bad signature, a stale timestamp, a replayed nonce, a body not signed are UNAUTHENTICATED, and nothing is stored', async () => {
    const unauthenticated = { code: grpc.status.UNAUTHENTICATED, reason: 'UNAUTHENTICATED' };
    const request = fullCreate('m_it');
    const wrong_secret = { ...key, secret: randomBytes(32).toString('base64url') };
    expect(await refusal(signedCreate(request, wrong_secret))).toMatchObject(unauthenticated);
    expect(await refusal(signedCreate(request, key, (m) => m.set('x-paycore-signature', '0'.repeat(64))))).toMatchObject(unauthenticated);
    const stale = await refusal(signedCreate(request, key, undefined, Date.now() - 6 * 60_000));
    expect(stale).toMatchObject(unauthenticated);
    expect(stale.message).toMatch(/x-paycore-timestamp/);
    expect(await refusal(signedCreate(request, key, undefined, Date.now() + 6 * 60_000))).toMatchObject(unauthenticated);
    // The signature covers the bytes: the same headers on another body do not verify.
    const other = fullCreate('m_it');
    const metadata = new grpc.Metadata();
    signRequest(metadata, key, '/paycore.v1.PaymentService/CreatePayment', Buffer.from(CreatePaymentRequest.encode(request).finish()));
    expect(await refusal(raw('/paycore.v1.PaymentService/CreatePayment', Buffer.from(CreatePaymentRequest.encode(other).finish()), metadata))).toMatchObject(unauthenticated);
    expect(await stored('m_it', request.merchantOrderNo)).toBe(false);
    expect(await stored('m_it', other.merchantOrderNo)).toBe(false);

    // The first use of a nonce passes; the identical request replayed is refused.
    const replayed = new grpc.Metadata();
    const bytes = Buffer.from(CreatePaymentRequest.encode(request).finish());
    signRequest(replayed, key, '/paycore.v1.PaymentService/CreatePayment', bytes);
    await raw('/paycore.v1.PaymentService/CreatePayment', bytes, replayed.clone());
    const refused = await refusal(raw('/paycore.v1.PaymentService/CreatePayment', bytes, replayed.clone()));
    expect(refused).toMatchObject(unauthenticated);
    expect(refused.message).toMatch(/nonce/);
  });

  test('auth - the signature covers the bytes as sent: a field this paycore does not know (a newer client) still verifies', async () => {
    const request = fullCreate('m_it');
    // Field 99, varint 1: unknown to this contract, dropped by a decode/re-encode round trip.
    const bytes = Buffer.concat([Buffer.from(CreatePaymentRequest.encode(request).finish()), Buffer.from([0x98, 0x06, 0x01])]);
    const metadata = new grpc.Metadata();
    signRequest(metadata, key, '/paycore.v1.PaymentService/CreatePayment', bytes);
    await raw('/paycore.v1.PaymentService/CreatePayment', bytes, metadata);
    expect(await stored('m_it', request.merchantOrderNo)).toBe(true);
  });

  test('auth - key rotation: old and new keys both work until the old one is retired, then only the new one', async () => {
    await upsertApp('rot_app', ['m_it'], ['payments:read']);
    const old_key = await rotate('rot_app');
    const new_key = await rotate('rot_app');
    expect(new_key.key_id).not.toBe(old_key.key_id);
    const getAs = async (k: AppKeyCredentials): Promise<unknown> => {
      const client = new PaycoreClient(stack.address, { ...tls_only(), app_key: k });
      try {
        return await client.getPayment({ merchantId: 'm_it', merchantOrderNo: 'absent-order' });
      } finally {
        client.close();
      }
    };
    // NOT_FOUND means authenticated and authorized: the payment simply does not exist.
    expect((await refusal(getAs(old_key))).code).toBe(grpc.status.NOT_FOUND);
    expect((await refusal(getAs(new_key))).code).toBe(grpc.status.NOT_FOUND);
    // A third key while the previous one is valid is refused: retiring is a decision.
    expect(await refusal(rotate('rot_app'))).toMatchObject({ code: grpc.status.FAILED_PRECONDITION, reason: 'ILLEGAL_STATE' });
    const retired = (await admin<{ app: App }>(app_admin_service, 'AppAdminService', 'retireAppKey', { appId: 'rot_app' })).app;
    expect(retired.keys.map((k) => [k.keyId, k.state])).toEqual([[new_key.key_id, 'CURRENT']]);
    expect(await refusal(getAs(old_key))).toMatchObject({ code: grpc.status.UNAUTHENTICATED, reason: 'UNAUTHENTICATED' });
    expect((await refusal(getAs(new_key))).code).toBe(grpc.status.NOT_FOUND);
  });
});

// ---- roles and merchants --------------------------------------------------------------------

describe('authorization', () => {
  let shop_a: PaycoreClient;

  beforeAll(async () => {
    await upsertApp('shop_a', ['m_it'], ['payments:write', 'payments:read', 'refunds:write']);
    shop_a = new PaycoreClient(stack.address, stack.auth('shop_a'));
  });

  afterAll(() => shop_a?.close());

  const forbidden = { code: grpc.status.PERMISSION_DENIED, reason: 'FORBIDDEN' };

  test('auth - an app for merchant A naming merchant B is PERMISSION_DENIED on create, get, options and refund, and nothing is stored', async () => {
    const request = createRequest('m_ref');
    expect(await refusal(shop_a.createPayment(request))).toMatchObject(forbidden);
    expect(await stored('m_ref', request.merchantOrderNo!)).toBe(false);

    const theirs = await stack.client.createPayment(createRequest('m_ref'));
    expect(await refusal(shop_a.getPayment({ merchantId: 'm_ref', merchantOrderNo: theirs.merchantOrderNo }))).toMatchObject(forbidden);
    // Another merchant's payment id under the app's own merchant is answered as absent (no probing).
    expect(await refusal(shop_a.getPayment({ paymentId: theirs.paymentId, merchantId: 'm_it' }))).toMatchObject({ code: grpc.status.NOT_FOUND, reason: 'NOT_FOUND' });
    expect(await refusal(shop_a.closePayment({ paymentId: theirs.paymentId, merchantId: 'm_it' }))).toMatchObject({ code: grpc.status.NOT_FOUND });
    expect(await refusal(shop_a.closePayment({ paymentId: theirs.paymentId, merchantId: 'm_ref' }))).toMatchObject(forbidden);
    expect((await stack.client.getPayment({ paymentId: theirs.paymentId, merchantId: 'm_ref' })).status).toBe(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);

    const options = await refusal(new Promise((resolve, reject) =>
      shop_a.raw.listPaymentOptions({ merchantId: 'm_ref', amount: 100n, currency: 'CNY', scene: 'PC' }, (e, v) => (e ? reject(e) : resolve(v)))));
    expect(options).toMatchObject(forbidden);

    const refund_no = `rf-${randomBytes(4).toString('hex')}`;
    const refund = await refusal(new Promise((resolve, reject) =>
      shop_a.raw.createRefund({ merchantId: 'm_ref', paymentId: theirs.paymentId, merchantOrderNo: '', merchantRefundNo: refund_no, amount: 100n, reason: 'r', notifyUrl: '' }, (e, v) => (e ? reject(e) : resolve(v)))));
    expect(refund).toMatchObject(forbidden);
    const after = await stack.client.getPayment({ paymentId: theirs.paymentId, merchantId: 'm_ref' });
    expect(after.refundedAmount).toBe(0n);
  });

  test('auth - the same app acting for its own merchant succeeds (the check is not a blanket refusal)', async () => {
    const payment = await shop_a.createPayment(createRequest('m_it'));
    expect(payment.merchantId).toBe('m_it');
    expect((await shop_a.getPayment({ paymentId: payment.paymentId, merchantId: 'm_it' })).paymentId).toBe(payment.paymentId);
  });

  test('auth - an app without the admin roles is PERMISSION_DENIED on every admin RPC', async () => {
    const services: Array<[grpc.ServiceDefinition, string]> = [
      [routing_admin_service, 'RoutingAdminService'], [merchant_admin_service, 'MerchantAdminService'],
      [app_admin_service, 'AppAdminService'], [notification_admin_service, 'NotificationAdminService'],
    ];
    let checked = 0;
    for (const [definition] of services) {
      for (const method of Object.values(definition)) {
        // An empty message: every field at its default, the role is checked before anything.
        const refused = await refusal(raw(method.path, Buffer.alloc(0), new grpc.Metadata(), stack.auth('shop_a')));
        expect({ method: method.path, ...refused }).toMatchObject({ method: method.path, ...forbidden });
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(15);
    // In particular nobody but an admin replaces a merchant's notify secret.
    const { merchant } = await admin<{ merchant: { notifySecretFingerprint: string } }>(merchant_admin_service, 'MerchantAdminService', 'getMerchant', { merchantId: 'm_it' });
    expect(merchant.notifySecretFingerprint).not.toBe('');
  });

  test('auth - a payments:read app cannot create (role checked per method)', async () => {
    await upsertApp('reader', ['m_it'], ['payments:read']);
    const reader = new PaycoreClient(stack.address, stack.auth('reader'));
    const request = createRequest('m_it');
    try {
      expect(await refusal(reader.createPayment(request))).toMatchObject(forbidden);
    } finally {
      reader.close();
    }
    expect(await stored('m_it', request.merchantOrderNo!)).toBe(false);
  });

  test('auth - admin roles cannot be given to an app limited to some merchants', async () => {
    const refused = await refusal(upsertApp('half_admin', ['m_it'], ['admin:merchants']));
    expect(refused).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, reason: 'INVALID_FIELD' });
    expect(await refusal(admin(app_admin_service, 'AppAdminService', 'getApp', { appId: 'half_admin' }))).toMatchObject({ code: grpc.status.NOT_FOUND });
  });

  test('auth - each connection is known by its own certificate: a new connection with another certificate is checked anew, in between calls of the first', async () => {
    // The certificate is read once per connection (core/auth/tls.ts): nothing of one
    // connection's may stand for another's.
    await upsertApp('shop_b', ['m_ref'], ['payments:write', 'payments:read']);
    const shop_b = new PaycoreClient(stack.address, stack.auth('shop_b'));
    const stranger = new PaycoreClient(stack.address, stack.auth('not_registered_either'));
    try {
      const mine = await shop_a.createPayment(createRequest('m_it'));
      expect(await refusal(shop_b.getPayment({ paymentId: mine.paymentId, merchantId: 'm_it' }))).toMatchObject(forbidden);
      const theirs = await shop_b.createPayment(createRequest('m_ref'));
      expect(theirs.merchantId).toBe('m_ref');
      expect(await refusal(shop_a.getPayment({ paymentId: theirs.paymentId, merchantId: 'm_ref' }))).toMatchObject(forbidden);
      expect(await refusal(stranger.getPayment({ paymentId: mine.paymentId, merchantId: 'm_it' }))).toMatchObject({ code: grpc.status.UNAUTHENTICATED, reason: 'UNAUTHENTICATED' });
      // The first connection is still its own app, and so is the second.
      expect((await shop_a.getPayment({ paymentId: mine.paymentId, merchantId: 'm_it' })).paymentId).toBe(mine.paymentId);
      expect((await shop_b.getPayment({ paymentId: theirs.paymentId, merchantId: 'm_ref' })).paymentId).toBe(theirs.paymentId);
    } finally {
      shop_b.close();
      stranger.close();
    }
  });

  test('auth - a deleted app is UNAUTHENTICATED at once, certificate and all', async () => {
    await upsertApp('leaver', ['m_it'], ['payments:read']);
    const leaver = new PaycoreClient(stack.address, stack.auth('leaver'));
    try {
      expect((await refusal(leaver.getPayment({ merchantId: 'm_it', merchantOrderNo: 'nope' }))).code).toBe(grpc.status.NOT_FOUND);
      await admin(app_admin_service, 'AppAdminService', 'deleteApp', { appId: 'leaver' });
      expect(await refusal(leaver.getPayment({ merchantId: 'm_it', merchantOrderNo: 'nope' }))).toMatchObject({ code: grpc.status.UNAUTHENTICATED });
    } finally {
      leaver.close();
    }
  });
});

// ---- the plaintext switch ---------------------------------------------------------------------

test('auth - PAYCORE_GRPC_INSECURE=1 (development) warns at boot, serves plaintext, and still wants an app key', async () => {
  // A second gateway on the same prefix (same registry), plaintext, on its own ports. It
  // applies the stack's routing file at boot, so the app is registered after it started (the
  // change reaches it through the routing table's change notification).
  const plain = new PaycoreProcess({ ...stack.env, PAYCORE_GRPC_PORT: '0', PAYCORE_HTTP_PORT: String(await freePort()), PAYCORE_GRPC_INSECURE: '1', NODE_ENV: 'development' });
  await plain.start();
  await upsertApp('plain_app', ['m_it'], ['payments:read']);
  const key = await rotate('plain_app');
  try {
    expect(plain.output).toMatch(/"level":"warn".*gRPC is PLAINTEXT \(PAYCORE_GRPC_INSECURE=1\): for development only/);
    const address = `127.0.0.1:${plain.grpc_port}`;
    const anonymous = new PaycoreClient(address, {});
    const signed = new PaycoreClient(address, { app_key: key });
    try {
      expect(await refusal(anonymous.getPayment({ merchantId: 'm_it', merchantOrderNo: 'nope' }))).toMatchObject({ code: grpc.status.UNAUTHENTICATED });
      const known = await eventually(async () => {
        const refused = await refusal(signed.getPayment({ merchantId: 'm_it', merchantOrderNo: 'nope' }));
        return refused.code === grpc.status.UNAUTHENTICATED ? undefined : refused;
      }, 10_000, 'the plaintext gateway to learn the new app');
      expect(known).toMatchObject({ code: grpc.status.NOT_FOUND });
    } finally {
      anonymous.close();
      signed.close();
    }
  } finally {
    await plain.kill('SIGTERM');
  }
});

test('auth - PAYCORE_GRPC_INSECURE=1 is refused at boot when NODE_ENV=production', async () => {
  const process_ = new PaycoreProcess({ ...stack.env, PAYCORE_GRPC_PORT: '0', PAYCORE_GRPC_INSECURE: '1', NODE_ENV: 'production' });
  await expect(process_.start(20_000)).rejects.toThrow(/exited with 2[\s\S]*PAYCORE_GRPC_INSECURE=1 \(plaintext gRPC\) is refused when NODE_ENV=production/);
});

// ---- certificate rotation -------------------------------------------------------------------

test('auth - client CA rotation without a restart: the new CA joins the bundle, then the old one leaves', async () => {
  const { readFileSync, writeFileSync } = await import('node:fs');
  const old_ca = readFileSync(stack.pki.ca_file);
  // The server's certificate stays from the old CA: clients keep trusting it.
  const trust = { ca: old_ca, server_name: 'localhost' };
  const next = ensureDevPki(path.join(other_ca_dir, 'next'), ['it_admin']);
  const next_files = next.app('it_admin');
  const next_auth: ClientAuth = { ...trust, cert: readFileSync(next_files.cert_file), key: readFileSync(next_files.key_file) };
  const old_auth: ClientAuth = { ...trust, ...certFiles(stack.auth()) };
  const reads = async (auth: ClientAuth): Promise<number> => {
    const client = new PaycoreClient(stack.address, auth);
    try {
      return (await refusal(client.getPayment({ merchantId: 'm_it', merchantOrderNo: 'rotation' }, 5_000))).code;
    } finally {
      client.close();
    }
  };
  // NOT_FOUND: authenticated, the payment just does not exist. UNAVAILABLE: handshake refused.
  expect(await reads(next_auth)).toBe(grpc.status.UNAVAILABLE);
  try {
    writeFileSync(stack.pki.ca_file, Buffer.concat([old_ca, readFileSync(next.ca_file)]));
    await eventually(async () => ((await reads(next_auth)) === grpc.status.NOT_FOUND ? true : undefined), 40_000, 'the new CA accepted');
    expect(await reads(old_auth)).toBe(grpc.status.NOT_FOUND);
    writeFileSync(stack.pki.ca_file, readFileSync(next.ca_file));
    await eventually(async () => ((await reads(old_auth)) === grpc.status.UNAVAILABLE ? true : undefined), 40_000, 'the old CA refused');
    expect(await reads(next_auth)).toBe(grpc.status.NOT_FOUND);
  } finally {
    writeFileSync(stack.pki.ca_file, old_ca);
  }
}, 120_000);

function certFiles(auth: ClientAuth): Pick<ClientAuth, 'cert' | 'key'> {
  return { cert: auth.cert!, key: auth.key! };
}
