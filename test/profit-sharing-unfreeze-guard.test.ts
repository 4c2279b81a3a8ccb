// Integration: paycore's automatic unfreeze (core/splits/unfreeze.ts) waits for the splits of a
// payment still being made at WeChat, and tries a refused unfreeze again. Through paycore (node
// dist/workers/main.js) and the sandbox PSP over HTTP, the books in a PostgreSQL database of
// this run's own. The unfreeze period is 10 s here (the sweep runs as often), so a test can make
// a split before its payment is due.

import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { splitId } from '../core/ids';
import { SplitStatus, type CreateSplitResponse, type GetSplitResponse, type Split } from '../proto/gen/paycore/v1/split';
import { eventually } from './harness';
import { startProfitSharingStack, type ProfitSharingStack } from './profit-sharing-kit';

let kit: ProfitSharingStack;
let merchant: string;

beforeAll(async () => {
  kit = await startProfitSharingStack({ PAYCORE_SPLIT_UNFREEZE_AFTER_MS: '10000' });
  merchant = kit.merchant;
});

afterAll(async () => {
  await kit?.stop();
});

const call = <T>(method: string, request: unknown): Promise<T> => kit.call<T>(method, request);

/** The split as it is, or undefined while it does not exist (the sweep has not created it). */
async function splitOf(split_id: string): Promise<Split | undefined> {
  return (await call<GetSplitResponse>('getSplit', { merchantId: merchant, splitId: split_id }).catch((error: grpc.ServiceError) => {
    if (error.code === grpc.status.NOT_FOUND) return { split: undefined };
    throw error;
  })).split;
}

async function reaches(split_id: string, status: SplitStatus, timeout_ms = 60_000): Promise<Split> {
  return eventually(async () => {
    const got = await splitOf(split_id);
    return got?.status === status ? got : undefined;
  }, timeout_ms, `split ${split_id} ${SplitStatus[status]}`);
}

const unfreezeOf = (payment_id: string, attempt = 1): string => splitId(kit.stack.id_key, merchant, attempt === 1 ? `unfreeze:${payment_id}` : `unfreeze:${payment_id}:${attempt}`);

test('unfreeze guard - no unfreeze while a split of the payment is PROCESSING at WeChat (a payment paid later is unfrozen meanwhile); once it finished, the unfreeze is sent', async () => {
  const held = await kit.paidPayment(10_000n);
  const held_attempt = `${held.paymentId}a1`;
  // WeChat does not answer the split's order nor its queries: it stays PROCESSING.
  await kit.stack.fault({ scope: { provider: 'wechatpay', out_trade_no: held_attempt }, operations: ['share', 'share_query'], fail_status: 503 });
  const request = {
    merchantId: merchant, merchantSplitNo: `ug-${randomBytes(4).toString('hex')}`, paymentId: held.paymentId, description: 'courier', finish: false,
    receivers: [{ receiverId: '1900000601', amount: 2_000n, returnedAmount: 0n, name: '分账接收方有限公司' }],
  };
  const split = (await call<CreateSplitResponse>('createSplit', request)).split!;
  expect(split.status).toBe(SplitStatus.SPLIT_STATUS_PROCESSING);
  // Paid after `held`, so due after it: once its unfreeze is made, a sweep has seen `held` due.
  const later = await kit.paidPayment(5_000n);
  await reaches(unfreezeOf(later.paymentId), SplitStatus.SPLIT_STATUS_SUCCEEDED);
  expect(await splitOf(unfreezeOf(held.paymentId))).toBeUndefined();
  expect((await kit.ordersAtSandbox(held_attempt)).filter((o) => o.finishes)).toEqual([]);
  // WeChat answers again: the split finishes (the merchant's retry of it queries WeChat now
  // rather than at the follow-up's growing delay), then the payment is unfrozen.
  expect((await fetch(`${kit.stack.sandbox.url}/sandbox/faults`, { method: 'DELETE' })).ok).toBe(true);
  await eventually(async () => {
    const again = (await call<CreateSplitResponse>('createSplit', request)).split!;
    return again.status === SplitStatus.SPLIT_STATUS_SUCCEEDED ? again : undefined;
  }, 30_000, 'the split SUCCEEDED');
  await reaches(unfreezeOf(held.paymentId), SplitStatus.SPLIT_STATUS_SUCCEEDED);
  const orders = await kit.ordersAtSandbox(held_attempt);
  expect(orders.map((o) => [o.out_order_no, o.finishes])).toEqual([[split.splitId, false], [unfreezeOf(held.paymentId), true]]);
  expect((await kit.store.trialBalance()).balanced).toBe(true);
}, 150_000);

test('unfreeze guard - WeChat refuses paycore\'s unfreeze: FAILED, and a later sweep tries again (unfreeze:<payment_id>:2), which unfreezes it', async () => {
  const payment = await kit.paidPayment(8_000n);
  const attempt_id = `${payment.paymentId}a1`;
  await kit.stack.fault({ scope: { provider: 'wechatpay', out_trade_no: attempt_id }, operations: ['share'], reject_before_create: { status: 400, code: 'INVALID_REQUEST', message: '订单状态错误' }, times: 1 });
  expect(await reaches(unfreezeOf(payment.paymentId), SplitStatus.SPLIT_STATUS_FAILED)).toMatchObject({ failureCode: 'INVALID_REQUEST' });
  const second = await reaches(unfreezeOf(payment.paymentId, 2), SplitStatus.SPLIT_STATUS_SUCCEEDED);
  expect(second).toMatchObject({ merchantSplitNo: `unfreeze:${payment.paymentId}:2`, finish: true, amount: 0n });
  const orders = await kit.ordersAtSandbox(attempt_id);
  expect(orders.map((o) => [o.out_order_no, o.state, o.unfrozen])).toEqual([[unfreezeOf(payment.paymentId, 2), 'FINISHED', 8_000]]);
}, 150_000);
