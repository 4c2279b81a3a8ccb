// Integration: paycore's automatic unfreeze (分账完结, core/splits/unfreeze.ts) of payments paid
// on a WeChat Pay channel configured for profit sharing, through paycore (node
// dist/workers/main.js) and the sandbox PSP over HTTP, the books in a PostgreSQL database of
// this run's own. The unfreeze period is 0 here, so every paid payment of the channel is due at
// once: nothing of it stays frozen at WeChat without the merchant's last split.

import { randomBytes } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { splitId } from '../core/ids';
import { SplitStatus, type CreateSplitResponse, type GetSplitResponse, type ListSplitsResponse, type Split } from '../proto/gen/paycore/v1/split';
import { eventually } from './harness';
import { startProfitSharingStack, type ProfitSharingStack } from './profit-sharing-kit';

let kit: ProfitSharingStack;
let merchant: string;

beforeAll(async () => {
  kit = await startProfitSharingStack({ PAYCORE_SPLIT_UNFREEZE_AFTER_MS: '0' });
  merchant = kit.merchant;
});

afterAll(async () => {
  await kit?.stop();
});

const call = <T>(method: string, request: unknown): Promise<T> => kit.call<T>(method, request);

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
  const payment = await kit.paidPayment(12_000n);
  const attempt_id = `${payment.paymentId}a1`;
  const split_id = splitId(kit.stack.id_key, merchant, `unfreeze:${payment.paymentId}`);
  const done = await finished(split_id);
  expect(done).toMatchObject({ status: SplitStatus.SPLIT_STATUS_SUCCEEDED, merchantSplitNo: `unfreeze:${payment.paymentId}`, finish: true, amount: 0n, receivers: [], channelId: 'wxps' });
  const orders = await eventually(async () => {
    const got = await kit.ordersAtSandbox(attempt_id);
    return got.length === 1 && got[0]!.state === 'FINISHED' ? got : undefined;
  }, 10_000, 'the unfreeze FINISHED at the sandbox');
  expect(orders[0]).toMatchObject({ out_order_no: split_id, finishes: true, unfrozen: 12_000, requests: 1, order_id: done.channelSplitNo });
  // Later sweeps do not unfreeze it again.
  const listed = await call<ListSplitsResponse>('listSplits', { merchantId: merchant, paymentId: payment.paymentId, pageSize: 0, pageToken: '' });
  expect(listed.splits.map((s) => s.splitId)).toEqual([split_id]);
  const later = (await call<CreateSplitResponse>('createSplit', {
    merchantId: merchant, merchantSplitNo: `late-${randomBytes(4).toString('hex')}`, paymentId: payment.paymentId, description: '', finish: false,
    receivers: [{ receiverId: '1900000401', amount: 1_000n, returnedAmount: 0n, name: '分账接收方有限公司' }],
  })).split!;
  expect(await finished(later.splitId)).toMatchObject({ status: SplitStatus.SPLIT_STATUS_FAILED, failureCode: 'INVALID_REQUEST' });
  expect((await kit.ordersAtSandbox(attempt_id)).filter((o) => o.finishes)).toHaveLength(1);
  expect((await kit.store.trialBalance()).balanced).toBe(true);
});
