// postingsOf() event by event, on histories folded with the orders' own evolve(): which
// transaction codes each event posts (the codes are part of each entry's unique key, and two
// codes with the same legs — a merchant's refund and a duplicate's — must not be confused),
// on whose channel, at which version, and what the rules refuse.

import { evolve, fold } from '../orders/evolve';
import type { PaymentEvent, PaymentState } from '../orders/types';
import { channelFeeOf, default_book_settings, imbalance, linesOf, platform_owner, postingsOf, type Posting } from './rules';

const payment_id = 'pay_rules_events';
const at = '2026-12-01T00:01:00.000Z';
const created: PaymentEvent = {
  type: 'PaymentCreated', at, payment_id, merchant_id: 'm_e', merchant_order_no: 'order-e', amount_minor: 10_000n, currency: 'CNY', product: 'WECHAT_NATIVE', subject: 's',
  notify_url: '', metadata: {}, expires_at: '2026-12-01T00:31:00.000Z', fingerprint: 'f', payer_sealed: 'sealed', include_channels: [], exclude_channels: [], merchant_fee_minor: 60n,
};
// The first attempt (WeChat, fee 30) failed; the second (Alipay, fee 50) was paid: the books
// must name the paid attempt's channel and fee, not the first one's.
const failed_over: PaymentEvent[] = [
  created,
  { type: 'ChannelRequested', at, attempt_no: 1, attempt_id: 'a1', channel_id: 'wx1', fee_minor: 30n },
  { type: 'AttemptFailed', at, attempt_id: 'a1', code: 'DECLINED', message: 'declined', final: false },
  { type: 'ChannelRequested', at, attempt_no: 2, attempt_id: 'a2', channel_id: 'ali1', fee_minor: 50n },
];
const succeeded: PaymentEvent = { type: 'AttemptSucceeded', at, attempt_id: 'a2', channel_trade_no: 'T2', amount_minor: 10_000n, paid_at: at };
const duplicate: PaymentEvent = { type: 'DuplicatePaymentDetected', at, attempt_id: 'a2', channel_trade_no: 'T2-again', amount_minor: 10_000n };
const refundRequested = (refund_id: string, kind: 'merchant' | 'duplicate', amount_minor: bigint): PaymentEvent => ({
  type: 'RefundRequested', at, refund_id, merchant_refund_no: kind === 'merchant' ? `no-${refund_id}` : '', attempt_id: 'a2', channel_id: 'ali1', amount_minor,
  reason: 'r', notify_url: '', fingerprint: `f-${refund_id}`, kind, ...(kind === 'duplicate' ? { channel_trade_no: 'T2-again' } : {}),
});
const refundSucceeded = (refund_id: string): PaymentEvent => ({ type: 'RefundSucceeded', at, refund_id, channel_refund_no: `cr-${refund_id}`, refunded_at: at });

/** The postings of one stored message: `events` applied to the state after `before`. */
function message(before: readonly PaymentEvent[], events: readonly PaymentEvent[], settings = default_book_settings) {
  const state = events.reduce<PaymentState | undefined>((s, e) => evolve(s, e), fold([...before]))!;
  const postings: Posting[] = postingsOf(events, state, settings);
  return { postings, state };
}

const summary = (postings: readonly Posting[]) => postings.map((p) => ({ key: p.entry_key, code: p.txn_code, ref: p.ref_id, lines: p.lines.map((l) => `${l.code}@${l.owner} D${l.debit_minor} C${l.credit_minor}`) }));

describe('postingsOf, event by event', () => {
  test('a payment paid after a failover posts on the paid attempt\'s channel with its fee; the fee income is the platform\'s', () => {
    const { postings, state } = message(failed_over, [succeeded]);
    expect(summary(postings)).toEqual([
      { key: `${payment_id}:${state.version}:PAYMENT`, code: 'PAYMENT', ref: 'a2', lines: ['channel_receivable@ali1 D10000 C0', 'merchant_pending@m_e D0 C9940', 'fee_income@platform D0 C60'] },
      { key: `${payment_id}:${state.version}:CHANNEL_FEE`, code: 'CHANNEL_FEE', ref: 'a2', lines: ['channel_fee_expense@ali1 D50 C0', 'channel_receivable@ali1 D0 C50'] },
    ]);
    expect(platform_owner).toBe('platform');
  });

  test('events stored together: event i of n is at version state.version − (n − 1 − i), its entry keys say so', () => {
    const { postings, state } = message(failed_over, [succeeded, duplicate]);
    expect(summary(postings).map(({ key, code, ref }) => ({ key, code, ref }))).toEqual([
      { key: `${payment_id}:${state.version - 1}:PAYMENT`, code: 'PAYMENT', ref: 'a2' },
      { key: `${payment_id}:${state.version - 1}:CHANNEL_FEE`, code: 'CHANNEL_FEE', ref: 'a2' },
      { key: `${payment_id}:${state.version}:DUPLICATE`, code: 'DUPLICATE', ref: 'T2-again' },
      { key: `${payment_id}:${state.version}:DUPLICATE_CHANNEL_FEE`, code: 'DUPLICATE_CHANNEL_FEE', ref: 'T2-again' },
    ]);
    // The duplicate's channel fee is the paid attempt's fee on its amount (50 of 10 000, all of it).
    expect(summary(postings)[3]!.lines).toEqual(['channel_fee_expense@ali1 D50 C0', 'channel_receivable@ali1 D0 C50']);
  });

  test('a merchant refund confirmed: REFUND_SETTLED and CHANNEL_FEE_RETURN; REFUND_FEE_RETURN only under the policy \'returned\'', () => {
    const before = [...failed_over, succeeded, refundRequested('r1', 'merchant', 4_000n)];
    const kept = message(before, [refundSucceeded('r1')]);
    expect(summary(kept.postings)).toEqual([
      { key: `${payment_id}:${kept.state.version}:REFUND_SETTLED`, code: 'REFUND_SETTLED', ref: 'r1', lines: ['refunds_in_transit@ali1 D4000 C0', 'channel_receivable@ali1 D0 C4000'] },
      { key: `${payment_id}:${kept.state.version}:CHANNEL_FEE_RETURN`, code: 'CHANNEL_FEE_RETURN', ref: 'r1', lines: ['channel_receivable@ali1 D20 C0', 'channel_fee_expense@ali1 D0 C20'] },
    ]);
    const returned = message(before, [refundSucceeded('r1')], { ...default_book_settings, refund_fee_policy: 'returned' });
    expect(summary(returned.postings).map((p) => p.code)).toEqual(['REFUND_SETTLED', 'CHANNEL_FEE_RETURN', 'REFUND_FEE_RETURN']);
    expect(summary(returned.postings)[2]).toEqual({
      key: `${payment_id}:${returned.state.version}:REFUND_FEE_RETURN`, code: 'REFUND_FEE_RETURN', ref: 'r1', lines: ['fee_income@platform D24 C0', 'merchant_available@m_e D0 C24'],
    });
  });

  test('a duplicate\'s refund: DUPLICATE_REFUND, then DUPLICATE_CHANNEL_FEE_RETURN (never a merchant fee returned), or DUPLICATE_REFUND_REVERSED', () => {
    const paid_twice = [...failed_over, succeeded, duplicate];
    const requested = message(paid_twice, [refundRequested('d1', 'duplicate', 10_000n)]);
    expect(summary(requested.postings)).toEqual([
      { key: `${payment_id}:${requested.state.version}:DUPLICATE_REFUND`, code: 'DUPLICATE_REFUND', ref: 'd1', lines: ['suspense@platform D10000 C0', 'refunds_in_transit@ali1 D0 C10000'] },
    ]);
    const before = [...paid_twice, refundRequested('d1', 'duplicate', 10_000n)];
    const settled = message(before, [refundSucceeded('d1')], { ...default_book_settings, refund_fee_policy: 'returned' });
    expect(summary(settled.postings)).toEqual([
      { key: `${payment_id}:${settled.state.version}:REFUND_SETTLED`, code: 'REFUND_SETTLED', ref: 'd1', lines: ['refunds_in_transit@ali1 D10000 C0', 'channel_receivable@ali1 D0 C10000'] },
      { key: `${payment_id}:${settled.state.version}:DUPLICATE_CHANNEL_FEE_RETURN`, code: 'DUPLICATE_CHANNEL_FEE_RETURN', ref: 'd1', lines: ['channel_receivable@ali1 D50 C0', 'channel_fee_expense@ali1 D0 C50'] },
    ]);
    const failed = message(before, [{ type: 'RefundFailed', at, refund_id: 'd1', code: 'X', message: 'x' }]);
    expect(summary(failed.postings).map((p) => p.code)).toEqual(['DUPLICATE_REFUND_REVERSED']);
  });

  test('a refund paid by a payout: in transit clears against the payout channel\'s receivable, no channel fee returned; the merchant fee only under \'returned\'', () => {
    const paid_out = (refund_id: string): PaymentEvent => ({ ...refundSucceeded(refund_id), payout: { payout_id: 'po_1', channel_id: 'bank1' } } as PaymentEvent);
    // The channel could no longer refund it (past its window): an operator paid it by a payout.
    const manual = (refund_id: string): PaymentEvent => ({ type: 'RefundRequiresManual', at, refund_id, code: 'WINDOW_PASSED', message: 'past the window' });
    const before = [...failed_over, succeeded, refundRequested('r1', 'merchant', 4_000n), manual('r1')];
    const kept = message(before, [paid_out('r1')]);
    expect(summary(kept.postings)).toEqual([
      { key: `${payment_id}:${kept.state.version}:REFUND_PAYOUT_SETTLED`, code: 'REFUND_PAYOUT_SETTLED', ref: 'r1', lines: ['refunds_in_transit@ali1 D4000 C0', 'channel_receivable@bank1 D0 C4000'] },
    ]);
    const returned = message(before, [paid_out('r1')], { ...default_book_settings, refund_fee_policy: 'returned' });
    expect(summary(returned.postings).map((p) => p.code)).toEqual(['REFUND_PAYOUT_SETTLED', 'REFUND_FEE_RETURN']);
    expect(summary(returned.postings)[1]).toEqual({
      key: `${payment_id}:${returned.state.version}:REFUND_FEE_RETURN`, code: 'REFUND_FEE_RETURN', ref: 'r1', lines: ['fee_income@platform D24 C0', 'merchant_available@m_e D0 C24'],
    });
    // A duplicate's refund returns no merchant fee, whatever the policy.
    const duplicate_before = [...failed_over, succeeded, duplicate, refundRequested('d1', 'duplicate', 10_000n), manual('d1')];
    const duplicate_paid = message(duplicate_before, [paid_out('d1')], { ...default_book_settings, refund_fee_policy: 'returned' });
    expect(summary(duplicate_paid.postings).map((p) => [p.code, p.lines])).toEqual([
      ['REFUND_PAYOUT_SETTLED', ['refunds_in_transit@ali1 D10000 C0', 'channel_receivable@bank1 D0 C10000']],
    ]);
  });

  test('an attempt the state does not know still posts, to the channel \'unknown\' (reconciliation flags it)', () => {
    const { state } = message(failed_over, [succeeded]);
    const stray: PaymentEvent = { type: 'AttemptSucceeded', at, attempt_id: 'a9', channel_trade_no: 'T9', amount_minor: 10_000n, paid_at: at };
    expect(summary(postingsOf([stray], state, default_book_settings))).toEqual([
      { key: `${payment_id}:${state.version}:PAYMENT`, code: 'PAYMENT', ref: 'a9', lines: ['channel_receivable@unknown D10000 C0', 'merchant_pending@m_e D0 C9940', 'fee_income@platform D0 C60'] },
      { key: `${payment_id}:${state.version}:CHANNEL_FEE`, code: 'CHANNEL_FEE', ref: 'a9', lines: ['channel_fee_expense@unknown D50 C0', 'channel_receivable@unknown D0 C50'] },
    ]);
    expect(channelFeeOf(state, 'a9', 10_000n)).toBe(0n);
  });

  test('channelFeeOf: the named attempt\'s fee pro rata, rounded down; nothing on a payment of zero', () => {
    const { state } = message(failed_over, [succeeded]);
    expect(channelFeeOf(state, 'a1', 5_000n)).toBe(15n);
    expect(channelFeeOf(state, 'a2', 5_000n)).toBe(25n);
    expect(channelFeeOf(state, 'a2', 199n)).toBe(0n);
    expect(channelFeeOf({ ...state, amount_minor: 0n }, 'a2', 0n)).toBe(0n);
  });

  test('a refund event for a refund the state does not hold is refused, naming the payment and the refund', () => {
    const { state } = message(failed_over, [succeeded]);
    expect(() => postingsOf([refundSucceeded('r9')], state, default_book_settings)).toThrow(`ledger: ${payment_id} has no refund r9`);
    expect(() => postingsOf([{ type: 'RefundFailed', at, refund_id: 'r9', code: 'X', message: 'x' }], state, default_book_settings)).toThrow(`ledger: ${payment_id} has no refund r9`);
  });

  test('a leg on the other merchant or a split receiver needs its owner named', () => {
    const parties = { merchant_id: 'm_e', channel_id: 'wx1', currency: 'CNY' };
    expect(() => linesOf('TRANSFER', parties, { gross: 1n })).toThrow('ledger rules: a counterparty leg needs counterparty_id');
    expect(() => linesOf('REFUND_PAYOUT_SETTLED', parties, { gross: 1n })).toThrow('ledger rules: a counterparty leg needs counterparty_id');
    expect(() => linesOf('SPLIT', parties, { gross: 1n })).toThrow('ledger: a split or member leg needs its receiver');
  });

  test('imbalance: Σ debit − Σ credit, so an unbalanced posting shows by how much and on which side', () => {
    const line = (debit_minor: bigint, credit_minor: bigint) => ({ code: 'suspense' as const, owner: 'platform', debit_minor, credit_minor });
    expect(imbalance([line(5n, 0n), line(0n, 3n)])).toBe(2n);
    expect(imbalance([line(0n, 5n), line(3n, 0n)])).toBe(-2n);
    expect(imbalance([])).toBe(0n);
  });
});
