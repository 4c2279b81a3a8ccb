// Integration: paycore's automatic unfreeze (分账完结, core/splits/unfreeze.ts) of payments paid
// on a WeChat Pay channel configured for profit sharing, through paycore (node
// dist/workers/main.js) and the sandbox PSP over HTTP, the books in a PostgreSQL database of
// this run's own. The unfreeze period is 0 here, so every paid payment of the channel is due at
// once: nothing of it stays frozen at WeChat without the merchant's last split.

import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { createTestDatabase, type TestDatabase } from '../testing/database';
import { LedgerStore } from '../core/ledger/store';
import { split_service } from '../core/gateway/splits';
import { splitId } from '../core/ids';
import { PaymentStatus, Product, type Payment } from '../proto/gen/paycore/v1/payment';
import { SplitStatus, type CreateSplitResponse, type GetSplitResponse, type ListSplitsResponse, type Split } from '../proto/gen/paycore/v1/split';
import { eventually, routingTable, sandboxRoute, startStack, type Stack } from './harness';

type SplitClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

interface SandboxOrder { out_order_no: string; order_id: string; state: string; finishes: boolean; unfrozen?: number; requests: number }

const merchant = 'm_it';
let db: TestDatabase;
let store: LedgerStore;
let stack: Stack;
let client: SplitClient;

beforeAll(async () => {
  db = await createTestDatabase({ migrate: false }); // paycore migrates it at boot
  stack = await startStack({
    routing: routingTable([sandboxRoute('wxps', ['WECHAT_NATIVE'])]),
    env: { PAYCORE_DATABASE_URL: db.url, PAYCORE_SPLIT_UNFREEZE_AFTER_MS: '0', PAYCORE_LEDGER_CUTOFF_INTERVAL_MS: '0' },
    extra_channels: (settings) => [{ channel_id: 'wxps', provider: 'wechatpay', products: ['WECHAT_NATIVE'], settings: { ...settings, profit_sharing: 'true' } }],
  });
  store = new LedgerStore(db.url);
  client = stack.serviceClient<SplitClient>(split_service, 'SplitService');
});

afterAll(async () => {
  client?.close();
  await stack?.stop();
  await store?.close();
  await db?.drop();
});

function call<T>(method: string, request: unknown): Promise<T> {
  return new Promise((resolve, reject) => client[method]!(request, (error: grpc.ServiceError | null, value: T) => (error ? reject(error) : resolve(value))));
}

async function paidPayment(amount: bigint): Promise<Payment> {
  const payment = await stack.client.createPayment({ merchantId: merchant, merchantOrderNo: `uf-${randomBytes(6).toString('hex')}`, amount, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'unfreeze' });
  await stack.pay(`${payment.paymentId}a1`);
  return eventually(async () => {
    const p = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: merchant });
    return p.status === PaymentStatus.PAYMENT_STATUS_SUCCEEDED ? p : undefined;
  }, 10_000, 'payment SUCCEEDED');
}

async function ordersAtSandbox(attempt_id: string): Promise<SandboxOrder[]> {
  return ((await (await fetch(`${stack.sandbox.url}/sandbox/wechatpay/profitsharing?out_trade_no_prefix=${attempt_id}`)).json()) as { orders: SandboxOrder[] }).orders;
}

async function finished(split_id: string): Promise<Split> {
  return eventually(async () => {
    // The sweep creates it: NOT_FOUND until then.
    const got = (await call<GetSplitResponse>('getSplit', { merchantId: merchant, splitId: split_id }).catch((error: grpc.ServiceError) => {
      if (error.code === grpc.status.NOT_FOUND) return { split: undefined };
      throw error;
    })).split;
    if (got === undefined) return undefined;
    return got.status === SplitStatus.SPLIT_STATUS_SUCCEEDED || got.status === SplitStatus.SPLIT_STATUS_FAILED ? got : undefined;
  }, 30_000, `split ${split_id} finished`);
}

test('unfreeze - a payment paid on a profit-sharing channel and never finished is unfrozen by paycore after the period: one unfreeze order at WeChat (all of it unfrozen), recorded as a finishing split of no receivers; WeChat then refuses any split of it', async () => {
  const payment = await paidPayment(12_000n);
  const attempt_id = `${payment.paymentId}a1`;
  const split_id = splitId(stack.id_key, merchant, `unfreeze:${payment.paymentId}`);
  const done = await finished(split_id);
  expect(done).toMatchObject({ status: SplitStatus.SPLIT_STATUS_SUCCEEDED, merchantSplitNo: `unfreeze:${payment.paymentId}`, finish: true, amount: 0n, receivers: [], channelId: 'wxps' });
  const orders = await eventually(async () => {
    const got = await ordersAtSandbox(attempt_id);
    return got.length === 1 && got[0]!.state === 'FINISHED' ? got : undefined;
  }, 10_000, 'the unfreeze FINISHED at the sandbox');
  expect(orders[0]).toMatchObject({ out_order_no: split_id, finishes: true, unfrozen: 12_000, requests: 1, order_id: done.channelSplitNo });
  // Later sweeps do not unfreeze it again.
  const listed = await call<ListSplitsResponse>('listSplits', { merchantId: merchant, paymentId: payment.paymentId, pageSize: 0, pageToken: '' });
  expect(listed.splits.map((s) => s.splitId)).toEqual([split_id]);
  const later = (await call<CreateSplitResponse>('createSplit', {
    merchantId: merchant, merchantSplitNo: `late-${randomBytes(4).toString('hex')}`, paymentId: payment.paymentId, description: '', finish: false,
    receivers: [{ receiverId: '1900000401', amount: 1_000n, returnedAmount: 0n }],
  })).split!;
  expect(await finished(later.splitId)).toMatchObject({ status: SplitStatus.SPLIT_STATUS_FAILED, failureCode: 'INVALID_REQUEST' });
  expect((await ordersAtSandbox(attempt_id)).filter((o) => o.finishes)).toHaveLength(1);
  expect((await store.trialBalance()).balanced).toBe(true);
});
