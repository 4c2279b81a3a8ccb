// Integration: a split WeChat keeps PROCESSING is not queried forever unseen (core/splits
// README.md, "Splits at the channel"): after PAYCORE_SPLIT_STALL_QUERIES follow-ups (2 here) it
// is REQUIRES_MANUAL — an operator sees it so in ListSplits — and is still queried, so it finishes
// by itself once WeChat answers. Through paycore (node dist/workers/main.js) and the sandbox PSP
// over HTTP, the books in a PostgreSQL database of this run's own.

import { randomBytes } from 'node:crypto';
import { SplitStatus, type CreateSplitResponse, type GetSplitResponse, type ListSplitsResponse, type Split } from '../proto/gen/paycore/v1/split';
import { eventually } from './harness';
import { startProfitSharingStack, type ProfitSharingStack } from './profit-sharing-kit';

let kit: ProfitSharingStack;
let merchant: string;

beforeAll(async () => {
  kit = await startProfitSharingStack({ PAYCORE_SPLIT_STALL_QUERIES: '2' });
  merchant = kit.merchant;
});

afterAll(async () => {
  await kit?.stop();
});

const call = <T>(method: string, request: unknown): Promise<T> => kit.call<T>(method, request);

async function reaches(split_id: string, status: SplitStatus): Promise<Split> {
  return eventually(async () => {
    const got = (await call<GetSplitResponse>('getSplit', { merchantId: merchant, splitId: split_id })).split!;
    return got.status === status ? got : undefined;
  }, 60_000, `split ${split_id} ${SplitStatus[status]}`);
}

test('stall - WeChat answers nothing about a split for the bound of queries: REQUIRES_MANUAL (listed so), its shares still held; queried on, it finishes SUCCEEDED once WeChat answers, one order at WeChat', async () => {
  const payment = await kit.paidPayment(10_000n);
  const attempt_id = `${payment.paymentId}a1`;
  // Every profit-sharing query (and the receiver's add, which WeChat counts with them) fails
  // until the list has been read: WeChat is unreachable for them, so nothing can finish the
  // split before the list shows it REQUIRES_MANUAL.
  await kit.stack.fault({ scope: { provider: 'wechatpay', out_trade_no: attempt_id }, operations: ['share_query'], fail_status: 503 });
  const created = (await call<CreateSplitResponse>('createSplit', {
    merchantId: merchant, merchantSplitNo: `st-${randomBytes(4).toString('hex')}`, paymentId: payment.paymentId, description: 'courier', finish: false,
    receivers: [{ receiverId: '1900000501', amount: 2_000n, returnedAmount: 0n }],
  })).split!;
  expect(created.status).toBe(SplitStatus.SPLIT_STATUS_PROCESSING);
  await reaches(created.splitId, SplitStatus.SPLIT_STATUS_REQUIRES_MANUAL);
  // The list is the books' row (synced after the event): it shows REQUIRES_MANUAL too.
  const listed = await eventually(async () => {
    const page = await call<ListSplitsResponse>('listSplits', { merchantId: merchant, paymentId: payment.paymentId, pageSize: 0, pageToken: '' });
    return page.splits[0]?.status === SplitStatus.SPLIT_STATUS_REQUIRES_MANUAL ? page.splits : undefined;
  }, 10_000, 'listed REQUIRES_MANUAL');
  expect(listed.map((s) => s.splitId)).toEqual([created.splitId]);
  // WeChat answers again.
  const cleared = await fetch(`${kit.stack.sandbox.url}/sandbox/faults`, { method: 'DELETE' });
  expect(cleared.ok).toBe(true);
  const done = await reaches(created.splitId, SplitStatus.SPLIT_STATUS_SUCCEEDED);
  expect(done.channelSplitNo).not.toBe('');
  expect((await kit.ordersAtSandbox(attempt_id)).map((o) => o.out_order_no)).toEqual([created.splitId]);
  expect((await kit.store.trialBalance()).balanced).toBe(true);
});
