// Integration: merchant scoping on every RPC of the merchant-facing services, as a table. An
// app limited to merchant A (with every role such an app can hold) naming merchant B is
// refused PERMISSION_DENIED FORBIDDEN on each method; naming A it is not (the check is not a
// blanket refusal). The calls that cover every merchant (the trial balance, the day's close
// and settlement, book settings, reconciliation) are refused to any app limited to some
// merchants and served to a platform app. The requests are otherwise valid, so the refusal
// is the scope check and not the field rules that run before it.
//
// Every method of every service the main port serves is in the table (the generated service
// definitions are read from proto/gen): a new RPC fails here until its scope is decided.
//
// The admin services (served on the admin port when PAYCORE_ADMIN_GRPC_PORT is set; here on the
// one port) have a table of their own: each method and the admin role it needs. A platform app
// holding every role but that one is FORBIDDEN on it, and so is the merchant-scoped app; an app
// holding the role is let past the check. A new admin RPC fails here until its role is decided.

import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { requirementOf } from '../core/auth/policy';
import { app_roles, type AppRole } from '../core/routing/apps';
import { grpcDefinition } from '../core/gateway/admin';
import { decodeServiceError } from '../core/errors';
import { PaymentServiceService, Product } from '../proto/gen/paycore/v1/payment';
import { createTestDatabase, type TestDatabase } from '../testing/database';
import { defaultRouting, startStack, type Stack } from './harness';

const merchant_a = 'm_sa';
const merchant_b = 'm_sb';
const scoped_app = 'scope_a';
const platform_app = 'scope_all';
const merchant_roles = ['payments:read', 'payments:write', 'refunds:write', 'ledger:read', 'ledger:write', 'payouts:read', 'payouts:write', 'splits:read', 'splits:write'];

const admin_roles = app_roles.filter((role) => role.startsWith('admin:'));
/** A platform app holding every role but `role`. */
const allBut = (role: AppRole): string => `all_but_${role.slice('admin:'.length)}`;

let db: TestDatabase;
let stack: Stack;

beforeAll(async () => {
  db = await createTestDatabase({ migrate: false });
  const routing = defaultRouting() as { apps: unknown[] };
  routing.apps.push({ app_id: scoped_app, merchants: [merchant_a], roles: merchant_roles });
  routing.apps.push({ app_id: platform_app, merchants: '*', roles: merchant_roles });
  for (const role of admin_roles) routing.apps.push({ app_id: allBut(role), merchants: '*', roles: app_roles.filter((r) => r !== role) });
  stack = await startStack({ routing, env: { PAYCORE_DATABASE_URL: db.url, PAYCORE_LEDGER_CUTOFF_INTERVAL_MS: '0' } });
}, 120_000);

afterAll(async () => {
  await stack?.stop();
  await db?.drop();
});

interface Served {
  name: string;
  definition: grpc.ServiceDefinition;
  /** The method's request message from a partial one (every other field at its default). */
  complete: (key: string, partial: unknown) => unknown;
}

type Message = { fromPartial(partial: unknown): unknown };

/** Every service on the main port: PaymentService and each generated `…ServiceDefinition`
 * whose methods need no admin role (those are on the admin port, and an admin role is only
 * given to an app acting for every merchant). */
function servedServices(): Served[] {
  return generatedServices(false);
}

/** The services on the admin port: every generated `…ServiceDefinition` whose methods all need an admin role. */
function adminServices(): Served[] {
  return generatedServices(true);
}

function generatedServices(admin: boolean): Served[] {
  const payment = require('../proto/gen/paycore/v1/payment') as Record<string, Message>;
  const services: Served[] = admin ? [] : [{
    name: 'paycore.v1.PaymentService',
    definition: PaymentServiceService as unknown as grpc.ServiceDefinition,
    complete: (key, partial) => payment[`${key[0]!.toUpperCase()}${key.slice(1)}Request`]!.fromPartial(partial),
  }];
  const dir = path.join(__dirname, '../proto/gen/paycore/v1');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const module = require(path.join(dir, file)) as Record<string, unknown>;
    for (const [name, value] of Object.entries(module)) {
      if (!name.endsWith('ServiceDefinition')) continue;
      const generated = value as Parameters<typeof grpcDefinition>[0] & { methods: Record<string, { name: string; requestType: Message }> };
      const admin_only = Object.values(generated.methods).every((m) => requirementOf(`/${generated.fullName}/${m.name}`)?.startsWith('admin:'));
      if (admin_only !== admin) continue;
      const complete = (key: string, partial: unknown): unknown => generated.methods[key]!.requestType.fromPartial(partial);
      services.push({ name: generated.fullName, definition: grpcDefinition(generated), complete });
    }
  }
  return services;
}

type Scope = 'merchant' | 'platform';

/** Per method path: who it is scoped to, and a valid request naming `merchant_id`. */
const no = (kind: string): string => `${kind}-${randomBytes(5).toString('hex')}`;
const payment_id = (merchant_id: string): string => stack.paymentId(merchant_id, no('o'));
const day = '2026-11-20';
const card = { cardNo: '6222020200112233', holderName: 'Zhang San', idNumber: '110101199003077777', phone: '13800138000' };
const table: Record<string, { scope: Scope; request: (merchant_id: string) => unknown }> = {
  '/paycore.v1.PaymentService/CreatePayment': {
    scope: 'merchant',
    request: (m) => ({ merchantId: m, merchantOrderNo: no('o'), amount: 100n, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'scope' }),
  },
  '/paycore.v1.PaymentService/GetPayment': { scope: 'merchant', request: (m) => ({ merchantId: m, paymentId: payment_id(m) }) },
  '/paycore.v1.PaymentService/ClosePayment': { scope: 'merchant', request: (m) => ({ merchantId: m, paymentId: payment_id(m) }) },
  '/paycore.v1.PaymentService/ConfirmPayment': { scope: 'merchant', request: (m) => ({ merchantId: m, paymentId: payment_id(m), verificationCode: '123456' }) },
  '/paycore.v1.PaymentService/WatchPayment': { scope: 'merchant', request: (m) => ({ merchantId: m, paymentId: payment_id(m) }) },
  '/paycore.v1.PaymentService/CreateRefund': {
    scope: 'merchant',
    request: (m) => ({ merchantId: m, paymentId: payment_id(m), merchantRefundNo: no('r'), amount: 100n, reason: 'scope' }),
  },
  '/paycore.v1.PaymentService/GetRefund': { scope: 'merchant', request: (m) => ({ merchantId: m, merchantRefundNo: no('r') }) },
  '/paycore.v1.PaymentService/ListPaymentOptions': { scope: 'merchant', request: (m) => ({ merchantId: m, amount: 100n, currency: 'CNY', scene: 'PC' }) },
  '/paycore.v1.PaymentService/BindCard': { scope: 'merchant', request: (m) => ({ merchantId: m, merchantBindingNo: no('b'), payerId: 'payer1', card }) },
  '/paycore.v1.PaymentService/ConfirmBinding': { scope: 'merchant', request: (m) => ({ merchantId: m, bindingId: `b${'a'.repeat(25)}`, verificationCode: '123456' }) },
  '/paycore.v1.PaymentService/ListCards': { scope: 'merchant', request: (m) => ({ merchantId: m, payerId: 'payer1' }) },
  '/paycore.v1.PaymentService/UnbindCard': { scope: 'merchant', request: (m) => ({ merchantId: m, cardToken: 'tokscope1' }) },
  '/paycore.v1.LedgerService/ListPayments': { scope: 'merchant', request: (m) => ({ merchantId: m }) },
  '/paycore.v1.LedgerService/ListRefunds': { scope: 'merchant', request: (m) => ({ merchantId: m }) },
  '/paycore.v1.LedgerService/GetBalances': { scope: 'merchant', request: (m) => ({ merchantId: m }) },
  '/paycore.v1.LedgerService/ListAccountEntries': { scope: 'merchant', request: (m) => ({ merchantId: m, accountCode: 'merchant_available', currency: 'CNY' }) },
  '/paycore.v1.LedgerService/ExportMerchantDay': { scope: 'merchant', request: (m) => ({ merchantId: m, businessDate: day }) },
  '/paycore.v1.LedgerService/GetMerchantBookSettings': { scope: 'merchant', request: (m) => ({ merchantId: m }) },
  '/paycore.v1.LedgerService/PlaceHold': { scope: 'merchant', request: (m) => ({ holdId: no('h'), merchantId: m, currency: 'CNY', amount: 1n, reason: 'scope' }) },
  '/paycore.v1.LedgerService/ReleaseHold': { scope: 'merchant', request: (m) => ({ holdId: no('h'), merchantId: m }) },
  '/paycore.v1.LedgerService/SetMerchantBookSettings': {
    scope: 'platform',
    request: (m) => ({ merchantId: m, settings: { settlementDays: 1, refundReturnsFee: false, refundOverdraft: false, overdraftLimit: 0n } }),
  },
  '/paycore.v1.LedgerService/GetTrialBalance': { scope: 'platform', request: () => ({ throughDate: '' }) },
  '/paycore.v1.LedgerService/CloseDay': { scope: 'platform', request: () => ({ businessDate: '2020-01-01' }) },
  '/paycore.v1.LedgerService/RunSettlement': { scope: 'platform', request: () => ({ businessDate: '2020-01-01' }) },
  '/paycore.v1.PayoutService/CreatePayout': {
    scope: 'merchant',
    request: (m) => ({
      merchantId: m, merchantPayoutNo: no('po'), amount: 100n, currency: 'CNY',
      payee: { accountNo: '6222020200112233', accountName: 'Zhang San', bankCode: 'ICBC' }, purpose: '', channelId: '',
    }),
  },
  '/paycore.v1.PayoutService/GetPayout': { scope: 'merchant', request: (m) => ({ merchantId: m, payoutId: `o${'a'.repeat(25)}` }) },
  '/paycore.v1.PayoutService/ListPayouts': { scope: 'merchant', request: (m) => ({ merchantId: m }) },
  // A transfer is paid by merchant_id (to another merchant of its group): the payer's scope.
  '/paycore.v1.PayoutService/CreateTransfer': {
    scope: 'merchant',
    request: (m) => ({ merchantId: m, merchantTransferNo: no('t'), toMerchantId: m === merchant_a ? merchant_b : merchant_a, amount: 100n, currency: 'CNY', memo: '' }),
  },
  '/paycore.v1.PayoutService/GetTransfer': { scope: 'merchant', request: (m) => ({ merchantId: m, transferId: `t${'a'.repeat(25)}` }) },
  '/paycore.v1.PayoutService/GetMemberWallet': { scope: 'merchant', request: (m) => ({ merchantId: m, memberId: 'member1', currency: 'CNY' }) },
  '/paycore.v1.SplitService/CreateSplit': {
    scope: 'merchant',
    request: (m) => ({ merchantId: m, merchantSplitNo: no('s'), paymentId: payment_id(m), receivers: [{ receiverId: 'recv1', amount: 1n }], description: '' }),
  },
  '/paycore.v1.SplitService/GetSplit': { scope: 'merchant', request: (m) => ({ merchantId: m, splitId: `s${'a'.repeat(25)}` }) },
  '/paycore.v1.SplitService/ListSplits': { scope: 'merchant', request: (m) => ({ merchantId: m }) },
  '/paycore.v1.ReconService/ListDifferences': { scope: 'platform', request: () => ({ channelId: 'bank1', businessDate: day }) },
  '/paycore.v1.ReconService/GetDayReport': { scope: 'platform', request: () => ({ channelId: 'bank1', businessDate: day }) },
  '/paycore.v1.ReconService/ResolveDifference': { scope: 'platform', request: () => ({ differenceId: '1', reason: 'scope' }) },
  '/paycore.v1.ReconService/RerunDay': { scope: 'platform', request: () => ({ channelId: 'bank1', businessDate: day }) },
};

/** Per admin method path: the role it needs. Requests are empty (every field at its default):
 * the role is checked before any field, so a refusal is the role's, and an app with the role
 * is answered by the handler (INVALID_FIELD, NOT_FOUND, an empty list: past the check). */
const admin_table: Record<string, AppRole> = Object.fromEntries([
  ...['UpsertChannel', 'GetChannel', 'ListChannels', 'SetChannelState', 'ExplainRoute'].map((m) => [`/paycore.v1.RoutingAdminService/${m}`, 'admin:routing']),
  ...['ListDeadLetters', 'ResendNotification'].map((m) => [`/paycore.v1.NotificationAdminService/${m}`, 'admin:notifications']),
  ...['ListDeadTimers', 'RedriveTimer'].map((m) => [`/paycore.v1.TimerAdminService/${m}`, 'admin:timers']),
  ...['UpsertMerchant', 'GetMerchant'].map((m) => [`/paycore.v1.MerchantAdminService/${m}`, 'admin:merchants']),
  ...['UpsertApp', 'GetApp', 'ListApps', 'DeleteApp', 'RotateAppKey', 'RetireAppKey'].map((m) => [`/paycore.v1.AppAdminService/${m}`, 'admin:apps']),
  ...['UpsertRiskRule', 'ListRiskRules', 'DeleteRiskRule', 'ListHeldPayments', 'ReleaseHeldPayment', 'RejectHeldPayment', 'HoldMerchant', 'ReleaseMerchantHold', 'ListMerchantHolds']
    .map((m) => [`/paycore.v1.RiskAdminService/${m}`, 'admin:risk']),
  ...['SetSettlementAccount', 'GetSettlementAccount', 'ListDeadPayoutTimers', 'RedrivePayoutTimer', 'PayRefundByPayout', 'ResolvePayout', 'RecheckRefund']
    .map((m) => [`/paycore.v1.PayoutAdminService/${m}`, 'admin:payouts']),
  ['/paycore.v1.SplitAdminService/ResolveSplitReturn', 'admin:payouts'],
]) as Record<string, AppRole>;

type AnyClient = grpc.Client & Record<string, (request: unknown, ...rest: unknown[]) => unknown>;

/** The call's outcome: 'ok', or the ErrorInfo reason (the gRPC code name when it has none). */
function outcome(client: AnyClient, method: grpc.MethodDefinition<unknown, unknown>, key: string, request: unknown): Promise<string> {
  const reason = (error: grpc.ServiceError): string => {
    const decoded = decodeServiceError(error);
    return decoded.reason ?? grpc.status[decoded.code]!;
  };
  const deadline = { deadline: Date.now() + 15_000 };
  return new Promise((resolve) => {
    if (method.responseStream) {
      const stream = client[key]!(request, new grpc.Metadata(), deadline) as grpc.ClientReadableStream<unknown>;
      // A watch that was let through answers with the payment (or NOT_FOUND); enough to tell.
      stream.on('data', () => {
        stream.cancel();
        resolve('ok');
      });
      stream.on('error', (error: grpc.ServiceError) => resolve(error.code === grpc.status.CANCELLED ? 'ok' : reason(error)));
      stream.on('end', () => resolve('ok'));
      return;
    }
    client[key]!(request, new grpc.Metadata(), deadline, (error: grpc.ServiceError | null) => resolve(error === null ? 'ok' : reason(error)));
  });
}

/** A call the scope and field checks let through (whatever it found then: NOT_FOUND, an
 * empty list, a balance too low) — so the same request for the other merchant was valid, and
 * its refusal is the scope's. */
const passed = (result: string): string => (result === 'FORBIDDEN' || result === 'INVALID_FIELD' ? result : 'past the checks');

describe('scope - every RPC', () => {
  const services = servedServices;

  test('scope - the table names every method the main port serves, and nothing else', () => {
    const served = services().flatMap(({ definition }) => Object.values(definition).map((m) => m.path)).sort();
    expect(Object.keys(table).sort()).toEqual(served);
  });

  test('scope - an app for merchant A naming merchant B is FORBIDDEN on every merchant RPC; naming A it is not', async () => {
    const seen: Record<string, { for_b: string; for_a: string }> = {};
    const expected: typeof seen = {};
    for (const { name, definition, complete } of services()) {
      const scoped = stack.serviceClient(definition, name, stack.auth(scoped_app)) as unknown as AnyClient;
      try {
        for (const [key, method] of Object.entries(definition)) {
          const entry = table[method.path];
          if (entry?.scope !== 'merchant') continue;
          seen[method.path] = {
            for_b: await outcome(scoped, method, key, complete(key, entry.request(merchant_b))),
            for_a: passed(await outcome(scoped, method, key, complete(key, entry.request(merchant_a)))),
          };
          expected[method.path] = { for_b: 'FORBIDDEN', for_a: 'past the checks' };
        }
      } finally {
        scoped.close();
      }
    }
    expect(seen).toEqual(expected);
    expect(Object.keys(seen).length).toBeGreaterThanOrEqual(20);
  });

  test('scope - the calls covering every merchant are FORBIDDEN to an app limited to some merchants, and served to a platform app', async () => {
    const seen: Record<string, { scoped: string; platform: string }> = {};
    const expected: typeof seen = {};
    for (const { name, definition, complete } of services()) {
      const scoped = stack.serviceClient(definition, name, stack.auth(scoped_app)) as unknown as AnyClient;
      const platform = stack.serviceClient(definition, name, stack.auth(platform_app)) as unknown as AnyClient;
      try {
        for (const [key, method] of Object.entries(definition)) {
          const entry = table[method.path];
          if (entry?.scope !== 'platform') continue;
          seen[method.path] = {
            scoped: await outcome(scoped, method, key, complete(key, entry.request(merchant_a))),
            platform: passed(await outcome(platform, method, key, complete(key, entry.request(merchant_a)))),
          };
          expected[method.path] = { scoped: 'FORBIDDEN', platform: 'past the checks' };
        }
      } finally {
        scoped.close();
        platform.close();
      }
    }
    expect(seen).toEqual(expected);
    expect(Object.keys(seen).length).toBeGreaterThanOrEqual(8);
  });

  test('scope - the admin table names every admin method, each with the role policy.ts gives it', () => {
    const served = adminServices().flatMap(({ definition }) => Object.values(definition).map((m) => m.path)).sort();
    expect(Object.keys(admin_table).sort()).toEqual(served);
    expect(Object.fromEntries(served.map((p) => [p, requirementOf(p)]))).toEqual(admin_table);
  });

  test('scope - every admin RPC is FORBIDDEN without its role (to a platform app holding every other role, and to a merchant-scoped app) and served with it', async () => {
    const seen: Record<string, { without_role: string; scoped: string; with_role: string }> = {};
    const expected: typeof seen = {};
    const past = (result: string): string => (result === 'FORBIDDEN' || result === 'UNAUTHENTICATED' ? result : 'past the check');
    for (const { name, definition, complete } of adminServices()) {
      const holder = stack.serviceClient(definition, name) as unknown as AnyClient;
      const scoped = stack.serviceClient(definition, name, stack.auth(scoped_app)) as unknown as AnyClient;
      try {
        for (const [key, method] of Object.entries(definition)) {
          const role = admin_table[method.path]!;
          const lacking = stack.serviceClient(definition, name, stack.auth(allBut(role))) as unknown as AnyClient;
          try {
            seen[method.path] = {
              without_role: await outcome(lacking, method, key, complete(key, {})),
              scoped: await outcome(scoped, method, key, complete(key, {})),
              with_role: past(await outcome(holder, method, key, complete(key, {}))),
            };
          } finally {
            lacking.close();
          }
          expected[method.path] = { without_role: 'FORBIDDEN', scoped: 'FORBIDDEN', with_role: 'past the check' };
        }
      } finally {
        holder.close();
        scoped.close();
      }
    }
    expect(seen).toEqual(expected);
    expect(seen['/paycore.v1.PayoutAdminService/ResolvePayout']).toEqual({ without_role: 'FORBIDDEN', scoped: 'FORBIDDEN', with_role: 'past the check' });
  });
});
