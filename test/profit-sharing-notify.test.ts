// Integration: WeChat's profit-sharing callbacks (分账动账通知) settle a split at once instead of
// at its next follow-up (core/splits README.md, "Splits at the channel"). The follow-ups are set
// ten minutes apart here, so within the test only a callback can finish a split: the sandbox
// sends PROFITSHARING.SUCCESS to paycore's callback port when it settles the order, paycore
// verifies it and queries the split. Through paycore (node dist/workers/main.js) and the sandbox
// PSP over HTTP, the books in a PostgreSQL database of this run's own.

import { randomBytes } from 'node:crypto';
import { SplitStatus, type CreateSplitResponse, type GetSplitResponse, type Split } from '../proto/gen/paycore/v1/split';
import { eventually } from './harness';
import { startProfitSharingStack, type ProfitSharingStack } from './profit-sharing-kit';

let kit: ProfitSharingStack;

beforeAll(async () => {
  kit = await startProfitSharingStack({ PAYCORE_SPLIT_FOLLOW_UP_MS: '600000' });
});

afterAll(async () => {
  await kit?.stop();
});

async function reaches(split_id: string, status: SplitStatus): Promise<Split> {
  return eventually(async () => {
    const got = (await kit.call<GetSplitResponse>('getSplit', { merchantId: kit.merchant, splitId: split_id })).split!;
    return got.status === status ? got : undefined;
  }, 30_000, `split ${split_id} ${SplitStatus[status]}`);
}

interface LoggedCallback { kind: string; duplicate: boolean; status: number | null }

async function sharingCallbacks(attempt_id: string): Promise<LoggedCallback[]> {
  const body = (await (await fetch(`${kit.stack.sandbox.url}/sandbox/callbacks?out_trade_no_prefix=${attempt_id}`)).json()) as { callbacks: LoggedCallback[] };
  return body.callbacks.filter((c) => c.kind === 'profit_sharing');
}

function createSplit(payment_id: string, receivers: [string, bigint][]): Promise<Split> {
  return kit.call<CreateSplitResponse>('createSplit', {
    merchantId: kit.merchant, merchantSplitNo: `nt-${randomBytes(4).toString('hex')}`, paymentId: payment_id, description: 'courier', finish: false,
    receivers: receivers.map(([receiverId, amount]) => ({ receiverId, amount, returnedAmount: 0n, name: '分账接收方有限公司' })),
  }).then((answer) => answer.split!);
}

test('notify - WeChat\'s PROFITSHARING.SUCCESS callback settles a PROCESSING split at once (no follow-up is due for ten minutes): verified, queried, SUCCEEDED and posted; the callback acknowledged', async () => {
  const payment = await kit.paidPayment(10_000n);
  const attempt_id = `${payment.paymentId}a1`;
  const created = await createSplit(payment.paymentId, [['1900000601', 2_000n], ['1900000602', 1_000n]]);
  expect(created.status).toBe(SplitStatus.SPLIT_STATUS_PROCESSING);
  const done = await reaches(created.splitId, SplitStatus.SPLIT_STATUS_SUCCEEDED);
  expect(done.channelSplitNo).not.toBe('');
  const orders = await kit.ordersAtSandbox(attempt_id);
  expect(orders.map((o) => [o.out_order_no, o.state, o.requests])).toEqual([[created.splitId, 'FINISHED', 1]]);
  // One callback per receiver, each acknowledged (2xx) by paycore.
  const logged = await eventually(async () => {
    const found = await sharingCallbacks(attempt_id);
    return found.length >= 2 ? found : undefined;
  }, 10_000, 'two profit-sharing callbacks');
  expect(logged.map((c) => c.status)).toEqual([204, 204]);
  await eventually(async () => ((await kit.store.pool.query('SELECT 1 FROM split_receivers WHERE payment_id = $1 AND in_flight', [payment.paymentId])).rows.length === 0 ? true : undefined), 10_000, 'no share in flight');
  expect((await kit.store.trialBalance()).balanced).toBe(true);
});

test('notify - duplicated callbacks change nothing: one order at WeChat, the shares posted once, every copy acknowledged', async () => {
  const payment = await kit.paidPayment(10_000n);
  const attempt_id = `${payment.paymentId}a1`;
  await kit.stack.fault({ scope: { provider: 'wechatpay', out_trade_no: attempt_id }, operations: ['share'], duplicate_callbacks: 3, times: 1 });
  const receiver = `19000006${randomBytes(2).toString('hex').replace(/[a-f]/g, '7')}`;
  const created = await createSplit(payment.paymentId, [[receiver, 2_500n]]);
  await reaches(created.splitId, SplitStatus.SPLIT_STATUS_SUCCEEDED);
  const logged = await eventually(async () => {
    const found = await sharingCallbacks(attempt_id);
    return found.length >= 4 ? found : undefined;
  }, 10_000, 'the callback and three copies');
  expect(logged.map((c) => [c.duplicate, c.status])).toEqual([[false, 204], [true, 204], [true, 204], [true, 204]]);
  expect((await kit.ordersAtSandbox(attempt_id)).map((o) => o.requests)).toEqual([1]);
  await eventually(async () => ((await kit.store.pool.query('SELECT 1 FROM split_receivers WHERE payment_id = $1 AND in_flight', [payment.paymentId])).rows.length === 0 ? true : undefined), 10_000, 'no share in flight');
  const balance = (await kit.store.balances(`${kit.merchant}/${receiver}`)).find((row) => row.code === 'split_receiver')?.balance_minor;
  expect(balance).toBe(2_500n);
  expect((await kit.store.trialBalance()).balanced).toBe(true);
});
