// Integration: shares to member wallets (receiver type MEMBER) of a payment paid on a WeChat Pay
// channel that makes splits at the provider (分账): a split naming only members is made in the
// books (no profit-sharing order at WeChat, the members' wallets credited); one mixing members
// with receivers at the channel, or finishing the payment, is refused naming the field, nothing
// recorded.

import { SplitReceiverType, SplitStatus, type CreateSplitResponse, type GetSplitResponse } from '../proto/gen/paycore/v1/split';
import { eventually, refusal } from './harness';
import { startProfitSharingStack, type ProfitSharingStack } from './profit-sharing-kit';

let ps: ProfitSharingStack;

beforeAll(async () => {
  ps = await startProfitSharingStack({});
}, 120_000);

afterAll(async () => {
  await ps?.stop();
});

const member = (receiverId: string, amount: bigint) => ({ receiverId, amount, returnedAmount: 0n, type: SplitReceiverType.SPLIT_RECEIVER_TYPE_MEMBER });

test('profit sharing - a split to member wallets of a payment split at its channel is made in the books: no order at WeChat, the wallets credited; mixed with channel receivers or finishing, refused', async () => {
  const payment = await ps.paidPayment(10_000n);
  const request = { merchantId: ps.merchant, merchantSplitNo: 'mem-1', paymentId: payment.paymentId, description: '', receivers: [member('u1', 3_000n), member('u2', 1_000n)] };
  const created = (await ps.call<CreateSplitResponse>('createSplit', request)).split!;
  const done = await eventually(async () => {
    const split = (await ps.call<GetSplitResponse>('getSplit', { merchantId: ps.merchant, splitId: created.splitId })).split!;
    return split.status === SplitStatus.SPLIT_STATUS_PENDING ? undefined : split;
  }, 20_000, 'the split decided');
  expect(done).toMatchObject({ status: SplitStatus.SPLIT_STATUS_SUCCEEDED, channelId: '', amount: 4_000n });
  const wallet = async (member_id: string) => (await ps.store.balances(`${ps.merchant}/${member_id}`)).find((row) => row.code === 'member_wallet')?.balance_minor ?? 0n;
  expect([await wallet('u1'), await wallet('u2')]).toEqual([3_000n, 1_000n]);
  expect(await ps.ordersAtSandbox(`${payment.paymentId}a1`)).toEqual([]);

  const mixed = await refusal(ps.call('createSplit', { ...request, merchantSplitNo: 'mem-2', receivers: [member('u1', 100n), { receiverId: '1900000109', amount: 100n, returnedAmount: 0n }] }));
  expect(mixed).toMatchObject({ reason: 'INVALID_FIELD', fields: ['receivers'] });
  const finishing = await refusal(ps.call('createSplit', { ...request, merchantSplitNo: 'mem-3', receivers: [member('u1', 100n)], finish: true }));
  expect(finishing).toMatchObject({ reason: 'INVALID_FIELD', fields: ['finish'] });
  expect((await ps.store.trialBalance()).balanced).toBe(true);
});
