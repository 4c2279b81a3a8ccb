// Integration: paycore on a nats-server that enforces ops/nats-permissions.conf (the file
// itself, for this run's prefix). The gateway and the actor hosts connect with their own
// users and do a whole payment; a client without those permissions cannot publish a command
// to the actors (permission violation, nothing happens to the payment); the gateway's user can.

import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect, errors as nats_errors, nkeyAuthenticator, nkeys, type NatsConnection } from '@nats-io/transport-node';
import { decodeJson, encodeJson } from '../core/codec';
import { shardOf } from '../core/ids';
import { names } from '../core/names';
import type { ActorReply, ActorRequest } from '../core/orders/protocol';
import { actor_reply_schema } from '../core/orders/schemas';
import { PaymentStatus, Product, type CreateRefundResponse } from '../proto/gen/paycore/v1/payment';
import { startPrivateNats, type DependencyServer } from '../testing/deps';
import { eventually, repo_root, startStack, uniquePrefix, type Stack } from './harness';

const gateway_password = randomBytes(12).toString('hex');
// The actor hosts authenticate with an nkey (the documented file's password entry replaced
// by the nkey's public key), the gateway with a password: both kinds exercised.
const actor_nkey = nkeys.createUser();
const keys_dir = mkdtempSync(path.join(tmpdir(), 'paycore-nkey-'));
const actor_seed_file = path.join(keys_dir, 'actor.nk');
const untrusted_password = randomBytes(12).toString('hex');
const shards = 8; // the stack's PAYCORE_SHARDS

let nats: DependencyServer;
let stack: Stack;
let prefix: string;

/** ops/nats-permissions.conf for `prefix`, with the passwords written in and one more user
 * that may only talk to its own inbox (an internal client that is not a paycore role). */
function serverConfig(for_prefix: string): string {
  const documented = readFileSync(path.join(repo_root, 'ops/nats-permissions.conf'), 'utf8')
    .replaceAll('paycore.', `${for_prefix}.`)
    .replaceAll('$KV.PAYCORE_', `$KV.${for_prefix.toUpperCase()}_`)
    .replace('$PAYCORE_GATEWAY_NATS_PASSWORD', `"${gateway_password}"`)
    .replace('user: paycore_actor, password: $PAYCORE_ACTOR_NATS_PASSWORD', `nkey: ${actor_nkey.getPublicKey()}`);
  const untrusted = `    { user: untrusted, password: "${untrusted_password}", permissions: { publish: { allow: ["_INBOX.>"] }, subscribe: { allow: ["_INBOX.>"] } } }\n  ]\n}`;
  return documented.replace(/\n {2}\]\n\}\s*$/, `\n${untrusted}\n`);
}

beforeAll(async () => {
  prefix = uniquePrefix();
  writeFileSync(actor_seed_file, new TextDecoder().decode(actor_nkey.getSeed()), { mode: 0o600 });
  nats = await startPrivateNats(serverConfig(prefix));
  stack = await startStack({
    prefix,
    nats_url: nats.url,
    env: {
      PAYCORE_NATS_USER: 'paycore_gateway', PAYCORE_NATS_PASSWORD: gateway_password,
      PAYCORE_ACTOR_NATS_NKEY_SEED_FILE: actor_seed_file,
    },
  });
});

afterAll(async () => {
  await stack?.stop();
  await nats?.close();
  rmSync(keys_dir, { recursive: true, force: true });
});

async function as(user: string, password: string): Promise<NatsConnection> {
  return connect({ servers: nats.url, user, pass: password });
}

/** The server's permission-violation message a failed request carries (nats.js wraps it in a
 * RequestError), or undefined when the failure was something else. */
function permissionViolation(error: Error | undefined): string | undefined {
  const cause = error instanceof nats_errors.RequestError ? error.cause : error;
  return cause instanceof nats_errors.PermissionViolationError ? cause.message : undefined;
}

function command(nc: NatsConnection, request: ActorRequest): Promise<ActorReply> {
  return nc
    .request(names(prefix).command(shardOf(request.payment_id, shards)), encodeJson(request), { timeout: 5_000 })
    .then((m) => decodeJson<ActorReply>(m.data, actor_reply_schema));
}

test('nats permissions - with the documented permissions paycore pays, notifies the merchant, refunds and closes', async () => {
  // The merchant's notification endpoint (loopback: the stack's allow-list admits it).
  const received: string[] = [];
  const merchant = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk.toString()));
    request.on('end', () => {
      received.push((JSON.parse(body) as { type: string }).type);
      response.writeHead(200).end();
    });
  });
  const port = await new Promise<number>((resolve) => merchant.listen(0, '127.0.0.1', () => resolve((merchant.address() as AddressInfo).port)));
  try {
    const payment = await stack.client.createPayment({
      merchantId: 'm_it', merchantOrderNo: `np-${randomBytes(6).toString('hex')}`, amount: 700n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'permissions', notifyUrl: `http://127.0.0.1:${port}/paycore`,
    });
    expect(payment.status).toBe(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);
    await stack.pay(`${payment.paymentId}a1`);
    await eventually(async () => ((await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: 'm_it' })).status === PaymentStatus.PAYMENT_STATUS_SUCCEEDED ? true : undefined), 15_000, 'paid');
    await eventually(async () => (received.includes('payment.succeeded') ? true : undefined), 15_000, 'the merchant notified');
    // A refund claims its id in the refund index and appends on the payment's subject.
    const refund = await new Promise<CreateRefundResponse>((resolve, reject) =>
      stack.client.raw.createRefund({ merchantId: 'm_it', merchantRefundNo: `npr-${randomBytes(6).toString('hex')}`, paymentId: payment.paymentId, merchantOrderNo: '', amount: 700n, reason: '', notifyUrl: '' }, new grpc.Metadata(), { deadline: Date.now() + 15_000 }, (error, value) => (error ? reject(error) : resolve(value!))),
    );
    expect(refund.refund?.paymentId).toBe(payment.paymentId);
    await eventually(async () => ((await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: 'm_it' })).status === PaymentStatus.PAYMENT_STATUS_REFUNDED ? true : undefined), 20_000, 'refunded');
    const open = await stack.client.createPayment({ merchantId: 'm_it', merchantOrderNo: `np-${randomBytes(6).toString('hex')}`, amount: 300n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'permissions' });
    expect((await stack.client.closePayment({ paymentId: open.paymentId, merchantId: 'm_it' })).status).toBe(PaymentStatus.PAYMENT_STATUS_CLOSED);
  } finally {
    await new Promise((resolve) => merchant.close(resolve));
  }
});

test('nats permissions - an untrusted user cannot publish a command; the gateway user can', async () => {
  const payment = await stack.client.createPayment({ merchantId: 'm_it', merchantOrderNo: `np-${randomBytes(6).toString('hex')}`, amount: 800n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'permissions' });
  const close: ActorRequest = { type: 'close', payment_id: payment.paymentId, merchant_id: 'm_it' };

  const untrusted = await as('untrusted', untrusted_password);
  try {
    const refused = await command(untrusted, close).then(() => undefined, (error: Error) => error);
    expect(permissionViolation(refused)).toMatch(new RegExp(`Permissions Violation for Publish to "${prefix}\\.pay\\.cmd\\.\\d+"`));
  } finally {
    await untrusted.close().catch(() => undefined);
  }
  const untouched = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: 'm_it' });
  expect(untouched.status).toBe(PaymentStatus.PAYMENT_STATUS_REQUIRES_ACTION);
  expect(untouched.version).toBe(payment.version);

  const gateway = await as('paycore_gateway', gateway_password);
  try {
    const reply = await command(gateway, { type: 'get', payment_id: payment.paymentId, merchant_id: 'm_it' });
    expect(reply.ok && reply.payment.payment_id).toBe(payment.paymentId);
  } finally {
    await gateway.close();
  }
});

test('nats permissions - neither role may queue what is not its own, nor delete a stream', async () => {
  const actor = await connect({ servers: nats.url, authenticator: nkeyAuthenticator(actor_nkey.getSeed()) });
  const gateway = await as('paycore_gateway', gateway_password);
  try {
    const queued = await actor.request(`${prefix}.notify.send.m_it`, encodeJson({}), { timeout: 2_000 }).then(() => undefined, (error: Error) => error);
    expect(permissionViolation(queued)).toMatch(/Permissions Violation for Publish/);
    for (const nc of [actor, gateway]) {
      const deleted = await nc.request(`$JS.API.STREAM.DELETE.${names(prefix).events_stream}`, new Uint8Array(), { timeout: 2_000 }).then(() => undefined, (error: Error) => error);
      expect(permissionViolation(deleted)).toMatch(/Permissions Violation for Publish to "\$JS\.API\.STREAM\.DELETE/);
    }
  } finally {
    await actor.close().catch(() => undefined);
    await gateway.close().catch(() => undefined);
  }
});
