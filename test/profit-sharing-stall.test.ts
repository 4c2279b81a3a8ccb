// Integration: a split WeChat keeps PROCESSING, or a return (分账回退) WeChat leaves open, is not
// queried forever unseen (core/splits README.md, "Splits at the channel"): after
// PAYCORE_SPLIT_STALL_QUERIES follow-ups (2 here; a return: the time they take) it is
// REQUIRES_MANUAL — an operator sees it so in ListSplits (a return: on GetSplit's receiver) — and is still queried, so it finishes
// by itself once WeChat answers. Through paycore (node dist/workers/main.js) and the sandbox PSP
// over HTTP, the books in a PostgreSQL database of this run's own.

import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { SplitReturnResolutionOutcome, SplitStatus, type CreateSplitResponse, type GetSplitResponse, type ListSplitsResponse, type ResolveSplitReturnResponse, type Split } from '../proto/gen/paycore/v1/split';
import { split_admin_service } from '../core/gateway/split-admin';
import { PaymentStatus, type CreateRefundRequest, type CreateRefundResponse } from '../proto/gen/paycore/v1/payment';
import { eventually, refusal } from './harness';
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
    receivers: [{ receiverId: '1900000501', amount: 2_000n, returnedAmount: 0n, name: '分账接收方有限公司' }],
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

function createRefund(request: Pick<CreateRefundRequest, 'paymentId' | 'amount' | 'merchantRefundNo'>): Promise<CreateRefundResponse> {
  const full: CreateRefundRequest = { merchantId: merchant, merchantOrderNo: '', reason: '', notifyUrl: '', ...request };
  return new Promise((resolve, reject) =>
    kit.stack.client.raw.createRefund(full, new grpc.Metadata(), { deadline: Date.now() + 20_000 }, (error, value) => {
      if (error) reject(error);
      else resolve(value!);
    }),
  );
}

async function receiverOf(split_id: string): Promise<NonNullable<Split['receivers'][number]>> {
  return (await call<GetSplitResponse>('getSplit', { merchantId: merchant, splitId: split_id })).split!.receivers[0]!;
}

test('stall - WeChat answers nothing about a return for the bound: the return is REQUIRES_MANUAL (on GetSplit\'s receiver) and the refund is refused ILLEGAL_STATE saying so, not DEPENDENCY_DOWN for ever; queried on, WeChat\'s late answer settles it and the same refund is made', async () => {
  const payment = await kit.paidPayment(10_000n);
  const attempt_id = `${payment.paymentId}a1`;
  const created = (await call<CreateSplitResponse>('createSplit', {
    merchantId: merchant, merchantSplitNo: `rt-${randomBytes(4).toString('hex')}`, paymentId: payment.paymentId, description: 'courier', finish: false,
    receivers: [{ receiverId: '1900000502', amount: 3_000n, returnedAmount: 0n, name: '分账接收方有限公司' }],
  })).split!;
  await reaches(created.splitId, SplitStatus.SPLIT_STATUS_SUCCEEDED);
  await eventually(async () => ((await kit.store.pool.query('SELECT 1 FROM split_receivers WHERE payment_id = $1 AND in_flight', [payment.paymentId])).rows.length === 0 ? true : undefined), 10_000, 'no share in flight');
  // Every return call (the return and its query) fails until WeChat answers again below.
  await kit.stack.fault({ scope: { provider: 'wechatpay', out_trade_no: attempt_id }, operations: ['share_return'], fail_status: 503 });
  // 9_000 + the 3_000 shared > 10_000: the share comes back first.
  const refund_no = `rf-${randomBytes(6).toString('hex')}`;
  const ask = () => createRefund({ paymentId: payment.paymentId, amount: 9_000n, merchantRefundNo: refund_no });
  expect(await refusal(ask())).toMatchObject({ reason: 'DEPENDENCY_DOWN' });
  expect((await receiverOf(created.splitId)).returnRequiresManual).toBe(false);
  await eventually(async () => ((await receiverOf(created.splitId)).returnRequiresManual ? true : undefined), 30_000, 'the return REQUIRES_MANUAL');
  const refused = await ask().then(() => undefined, (error: grpc.ServiceError) => error);
  expect(refused?.code).toBe(grpc.status.FAILED_PRECONDITION);
  expect(await refusal(ask())).toMatchObject({ reason: 'ILLEGAL_STATE' });
  expect(refused?.details).toContain('REQUIRES_MANUAL');
  // WeChat answers again: the follow-up's query (not a retry of the refund) settles the return.
  expect((await fetch(`${kit.stack.sandbox.url}/sandbox/faults`, { method: 'DELETE' })).ok).toBe(true);
  const settled = await eventually(async () => {
    const receiver = await receiverOf(created.splitId);
    return !receiver.returnRequiresManual ? receiver : undefined;
  }, 60_000, 'the return settled by a follow-up');
  expect(settled.returnedAmount).toBe(3_000n);
  const made = (await ask()).refund!;
  expect(made.merchantRefundNo).toBe(refund_no);
  await eventually(async () => {
    const p = await kit.stack.client.getPayment({ paymentId: payment.paymentId, merchantId: merchant });
    return p.status === PaymentStatus.PAYMENT_STATUS_PARTIALLY_REFUNDED ? p : undefined;
  }, 20_000, 'refund settled');
  const returns = ((await (await fetch(`${kit.stack.sandbox.url}/sandbox/wechatpay/profitsharing?out_trade_no_prefix=${attempt_id}`)).json()) as { returns: { out_return_no: string; result: string }[] }).returns;
  expect(returns.map((r) => [r.out_return_no, r.result])).toEqual([[`${made.refundId}_${created.splitId}_1`, 'SUCCESS']]);
  await eventually(async () => ((await kit.store.trialBalance()).balanced ? true : undefined), 10_000, 'the books balanced');
});

type AdminClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

/** A split whose return for a refund WeChat leaves open until it is REQUIRES_MANUAL. */
interface StalledReturn { split_id: string; payment_id: string; attempt_id: string; ask: () => Promise<CreateRefundResponse>; refund_no: string }

async function stalledReturn(receiver_id: string): Promise<StalledReturn> {
  const payment = await kit.paidPayment(10_000n);
  const attempt_id = `${payment.paymentId}a1`;
  const created = (await call<CreateSplitResponse>('createSplit', {
    merchantId: merchant, merchantSplitNo: `mr-${randomBytes(4).toString('hex')}`, paymentId: payment.paymentId, description: 'courier', finish: false,
    receivers: [{ receiverId: receiver_id, amount: 3_000n, returnedAmount: 0n, name: '分账接收方有限公司' }],
  })).split!;
  await reaches(created.splitId, SplitStatus.SPLIT_STATUS_SUCCEEDED);
  await eventually(async () => ((await kit.store.pool.query('SELECT 1 FROM split_receivers WHERE payment_id = $1 AND in_flight', [payment.paymentId])).rows.length === 0 ? true : undefined), 10_000, 'no share in flight');
  await kit.stack.fault({ scope: { provider: 'wechatpay', out_trade_no: attempt_id }, operations: ['share_return'], fail_status: 503 });
  const refund_no = `rf-${randomBytes(6).toString('hex')}`;
  const ask = () => createRefund({ paymentId: payment.paymentId, amount: 9_000n, merchantRefundNo: refund_no });
  expect(await refusal(ask())).toMatchObject({ reason: 'DEPENDENCY_DOWN' });
  await eventually(async () => ((await receiverOf(created.splitId)).returnRequiresManual ? true : undefined), 30_000, 'the return REQUIRES_MANUAL');
  // WeChat stays silent about the return (the fault holds until the test clears it): only the
  // operator settles it.
  return { split_id: created.splitId, payment_id: payment.paymentId, attempt_id, ask, refund_no };
}

async function refundIdOf(split_id: string): Promise<string> {
  const row = await kit.store.pool.query<{ refund_id: string }>('SELECT refund_id FROM split_returns WHERE split_id = $1', [split_id]);
  return row.rows[0]!.refund_id;
}

test('manual - an operator resolves a REQUIRES_MANUAL return NOT_RETURNED (SplitAdminService, admin:payouts): audited, the share is the receiver\'s again in the books, the refund waiting on it is refused; the same resolution again changes nothing, the other is ILLEGAL_STATE', async () => {
  const admin = kit.stack.serviceClient<AdminClient>(split_admin_service, 'SplitAdminService');
  try {
    const adminCall = <T>(request: unknown) => new Promise<T>((resolve, reject) => admin.resolveSplitReturn!(
      request, (error: grpc.ServiceError | null, value: T) => (error ? reject(error) : resolve(value)),
    ));
    const stalled = await stalledReturn('1900000511');
    const refund_id = await refundIdOf(stalled.split_id);
    const resolve = {
      merchantId: merchant, splitId: stalled.split_id, refundId: refund_id, lineNo: 1,
      outcome: SplitReturnResolutionOutcome.SPLIT_RETURN_RESOLUTION_OUTCOME_NOT_RETURNED, reason: 'WeChat support: the return was never made',
    };
    expect(await refusal(adminCall({ ...resolve, reason: ' ', lineNo: 0, outcome: 0 }))).toMatchObject({ code: grpc.status.INVALID_ARGUMENT, fields: ['line_no', 'outcome', 'reason'] });
    expect(await refusal(adminCall({ ...resolve, merchantId: 'm_other' }))).toMatchObject({ reason: 'NOT_FOUND' });
    const after = (await adminCall<ResolveSplitReturnResponse>(resolve)).split!;
    expect(after.receivers[0]).toMatchObject({ returnRequiresManual: false, returnedAmount: 0n });
    const refused = await ask(stalled.ask);
    expect(refused).toMatchObject({ reason: 'ILLEGAL_STATE' });
    expect((await adminCall<ResolveSplitReturnResponse>(resolve)).split!.receivers[0]!.returnedAmount).toBe(0n);
    expect(await refusal(adminCall({ ...resolve, outcome: SplitReturnResolutionOutcome.SPLIT_RETURN_RESOLUTION_OUTCOME_RETURNED }))).toMatchObject({ reason: 'ILLEGAL_STATE' });
    const balance = (await kit.store.balances(`${merchant}/1900000511`)).find((row) => row.code === 'split_receiver')?.balance_minor;
    expect(balance).toBe(3_000n);
    await eventually(async () => ((await kit.store.trialBalance()).balanced ? true : undefined), 10_000, 'the books balanced');
  } finally {
    admin.close();
    await fetch(`${kit.stack.sandbox.url}/sandbox/faults`, { method: 'DELETE' });
  }
});

test('manual - an operator resolves a REQUIRES_MANUAL return RETURNED: the refund retried with the same key is made', async () => {
  const admin = kit.stack.serviceClient<AdminClient>(split_admin_service, 'SplitAdminService');
  try {
    const stalled = await stalledReturn('1900000512');
    const refund_id = await refundIdOf(stalled.split_id);
    const resolved = await new Promise<ResolveSplitReturnResponse>((resolve, reject) => admin.resolveSplitReturn!(
      {
        merchantId: merchant, splitId: stalled.split_id, refundId: refund_id, lineNo: 1,
        outcome: SplitReturnResolutionOutcome.SPLIT_RETURN_RESOLUTION_OUTCOME_RETURNED, reason: 'WeChat support confirmed the return',
      },
      (error: grpc.ServiceError | null, value: ResolveSplitReturnResponse) => (error ? reject(error) : resolve(value)),
    ));
    expect(resolved.split!.receivers[0]).toMatchObject({ returnRequiresManual: false, returnedAmount: 3_000n });
    const made = (await stalled.ask()).refund!;
    expect(made.merchantRefundNo).toBe(stalled.refund_no);
    await eventually(async () => ((await kit.store.trialBalance()).balanced ? true : undefined), 10_000, 'the books balanced');
  } finally {
    admin.close();
    await fetch(`${kit.stack.sandbox.url}/sandbox/faults`, { method: 'DELETE' });
  }
});

async function ask(make: () => Promise<unknown>): Promise<{ code: grpc.status; reason?: string; fields: string[] }> {
  return refusal(make());
}
