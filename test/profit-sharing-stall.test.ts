// Integration: a split WeChat keeps PROCESSING is not queried forever unseen (core/splits
// README.md, "Splits at the channel"): after PAYCORE_SPLIT_STALL_QUERIES follow-ups (2 here) it
// is REQUIRES_MANUAL — an operator sees it in ListSplits — and is still queried, so it finishes
// by itself once WeChat answers. Through paycore (node dist/workers/main.js) and the sandbox PSP
// over HTTP, the books in a PostgreSQL database of this run's own.

import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { createTestDatabase, type TestDatabase } from '../testing/database';
import { LedgerStore } from '../core/ledger/store';
import { split_service } from '../core/gateway/splits';
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
    env: { PAYCORE_DATABASE_URL: db.url, PAYCORE_SPLIT_STALL_QUERIES: '2', PAYCORE_LEDGER_CUTOFF_INTERVAL_MS: '0' },
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
  const payment = await stack.client.createPayment({ merchantId: merchant, merchantOrderNo: `st-${randomBytes(6).toString('hex')}`, amount, currency: 'CNY', product: Product.PRODUCT_WECHAT_NATIVE, subject: 'stall' });
  await stack.pay(`${payment.paymentId}a1`);
  return eventually(async () => {
    const p = await stack.client.getPayment({ paymentId: payment.paymentId, merchantId: merchant });
    return p.status === PaymentStatus.PAYMENT_STATUS_SUCCEEDED ? p : undefined;
  }, 10_000, 'payment SUCCEEDED');
}

async function ordersAtSandbox(attempt_id: string): Promise<SandboxOrder[]> {
  return ((await (await fetch(`${stack.sandbox.url}/sandbox/wechatpay/profitsharing?out_trade_no_prefix=${attempt_id}`)).json()) as { orders: SandboxOrder[] }).orders;
}

async function reaches(split_id: string, status: SplitStatus): Promise<Split> {
  return eventually(async () => {
    const got = (await call<GetSplitResponse>('getSplit', { merchantId: merchant, splitId: split_id })).split!;
    return got.status === status ? got : undefined;
  }, 60_000, `split ${split_id} ${SplitStatus[status]}`);
}

test('stall - WeChat answers nothing about a split for the bound of queries: REQUIRES_MANUAL (listed so), its shares still held; queried on, it finishes SUCCEEDED once WeChat answers, one order at WeChat', async () => {
  const payment = await paidPayment(10_000n);
  const attempt_id = `${payment.paymentId}a1`;
  // Every profit-sharing query (and the receiver's add, which WeChat counts with them) fails: WeChat is unreachable for them.
  await stack.fault({ scope: { provider: 'wechatpay', out_trade_no: attempt_id }, operations: ['share_query'], fail_status: 503, times: 3 });
  const created = (await call<CreateSplitResponse>('createSplit', {
    merchantId: merchant, merchantSplitNo: `st-${randomBytes(4).toString('hex')}`, paymentId: payment.paymentId, description: 'courier', finish: false,
    receivers: [{ receiverId: '1900000501', amount: 2_000n, returnedAmount: 0n }],
  })).split!;
  expect(created.status).toBe(SplitStatus.SPLIT_STATUS_PROCESSING);
  await reaches(created.splitId, SplitStatus.SPLIT_STATUS_REQUIRES_MANUAL);
  const listed = await eventually(async () => {
    const page = await call<ListSplitsResponse>('listSplits', { merchantId: merchant, paymentId: payment.paymentId, pageSize: 0, pageToken: '' });
    const status = page.splits[0]?.status;
    return status === SplitStatus.SPLIT_STATUS_REQUIRES_MANUAL || status === SplitStatus.SPLIT_STATUS_SUCCEEDED ? page.splits : undefined;
  }, 10_000, 'listed past PROCESSING');
  expect(listed.map((s) => s.splitId)).toEqual([created.splitId]);
  const done = await reaches(created.splitId, SplitStatus.SPLIT_STATUS_SUCCEEDED);
  expect(done.channelSplitNo).not.toBe('');
  expect((await ordersAtSandbox(attempt_id)).map((o) => o.out_order_no)).toEqual([created.splitId]);
  expect((await store.trialBalance()).balanced).toBe(true);
});
