// Integration: a refund's claim on a payment split at WeChat (分账) whose refund never came to
// exist — the gateway stopped after the books took the receivers' shares back and before it asked
// WeChat for the returns or created the refund, and the merchant never retried — is given back by
// the orphan sweep (core/splits/README.md, "Orphan return claims"): the share is the receiver's
// again in the books (WeChat never returned it) and the claim no longer keeps the amount out of
// later splits. A short orphan bound here (PAYCORE_SPLIT_CLAIM_ORPHAN_AFTER_MS).

import { randomBytes } from 'node:crypto';
import { refundId } from '../core/ids';
import { SplitBooks } from '../core/splits/books';
import { SplitStatus, type CreateSplitResponse, type GetSplitResponse } from '../proto/gen/paycore/v1/split';
import { eventually } from './harness';
import { startProfitSharingStack, type ProfitSharingStack } from './profit-sharing-kit';

let kit: ProfitSharingStack;

beforeAll(async () => {
  kit = await startProfitSharingStack({ PAYCORE_SPLIT_CLAIM_ORPHAN_AFTER_MS: '1500' });
}, 120_000);

afterAll(async () => {
  await kit?.stop();
});

test('profit sharing orphan claim - shares the books took back for a refund never created, never asked of WeChat, are given back by the sweep; the payment splits that amount again', async () => {
  const payment = await kit.paidPayment(10_000n);
  const request = {
    merchantId: kit.merchant, merchantSplitNo: `oc-${randomBytes(4).toString('hex')}`, paymentId: payment.paymentId, description: 'courier', finish: false,
    receivers: [{ receiverId: '1900000701', amount: 4_000n, returnedAmount: 0n, name: '分账接收方有限公司' }],
  };
  const created = (await kit.call<CreateSplitResponse>('createSplit', request)).split!;
  await eventually(async () => {
    const split = (await kit.call<GetSplitResponse>('getSplit', { merchantId: kit.merchant, splitId: created.splitId })).split!;
    return split.status === SplitStatus.SPLIT_STATUS_SUCCEEDED ? split : undefined;
  }, 30_000, 'the split SUCCEEDED');
  await eventually(async () => ((await kit.store.pool.query('SELECT 1 FROM split_receivers WHERE split_id = $1 AND NOT in_flight', [created.splitId])).rows.length > 0 ? true : undefined), 10_000, 'the share confirmed');
  const receiver = async () => (await kit.store.balances(`${kit.merchant}/1900000701`)).find((row) => row.code === 'split_receiver')?.balance_minor ?? 0n;
  // The crash point: the books took the share back and claimed a refund of 9_000; nothing more happened.
  const refund_id = refundId(kit.stack.id_key, kit.merchant, `rf-${randomBytes(5).toString('hex')}`);
  expect(await new SplitBooks(kit.store).planReturns(payment.paymentId, refund_id, 9_000n)).toMatchObject({ kind: 'planned', returns: [{ amount_minor: 4_000n }] });
  expect(await receiver()).toBe(0n);
  await eventually(async () => ((await receiver()) === 4_000n ? true : undefined), 20_000, 'the orphan claim given back');
  expect((await kit.store.pool.query('SELECT released FROM channel_refund_claims WHERE refund_id = $1', [refund_id])).rows).toEqual([{ released: true }]);
  // The 9_000 is no longer held: 10_000 − the 4_000 share = 6_000 splits again.
  const again = (await kit.call<CreateSplitResponse>('createSplit', { ...request, merchantSplitNo: `oc-${randomBytes(4).toString('hex')}`, receivers: [{ ...request.receivers[0]!, amount: 6_000n }] })).split!;
  const decided = await eventually(async () => {
    const split = (await kit.call<GetSplitResponse>('getSplit', { merchantId: kit.merchant, splitId: again.splitId })).split!;
    return split.status === SplitStatus.SPLIT_STATUS_SUCCEEDED || split.status === SplitStatus.SPLIT_STATUS_FAILED ? split : undefined;
  }, 30_000, 'the second split decided');
  expect(decided.status).toBe(SplitStatus.SPLIT_STATUS_SUCCEEDED);
  expect((await kit.store.trialBalance()).balanced).toBe(true);
});
