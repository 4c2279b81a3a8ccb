import fc from 'fast-check';
import { channelFeeOf, default_book_settings, feeReturned, imbalance, normal_side, postingsOf, type AccountCode, type MerchantBookSettings } from './rules';
import { expectedBooks, payment_plan, streamOf, type Expected } from './ledger.fixture';
import type { StreamMessage } from './store';
import type { Attempt } from '../orders/types';

/** A ledger in memory: balances per account, on each account's normal side. */
function post(stream: readonly StreamMessage[], settings: MerchantBookSettings) {
  const balances = new Map<string, bigint>();
  const keys = new Set<string>();
  for (const message of stream) {
    for (const posting of postingsOf(message.events, message.state, settings)) {
      expect(imbalance(posting.lines)).toBe(0n);
      expect(posting.lines.length).toBeGreaterThanOrEqual(2);
      expect(keys.has(posting.entry_key)).toBe(false);
      keys.add(posting.entry_key);
      for (const line of posting.lines) {
        expect(line.debit_minor >= 0n && line.credit_minor >= 0n && (line.debit_minor > 0n) !== (line.credit_minor > 0n)).toBe(true);
        const key = `${line.code}|${line.owner}`;
        const delta = normal_side[line.code] === 'debit' ? line.debit_minor - line.credit_minor : line.credit_minor - line.debit_minor;
        balances.set(key, (balances.get(key) ?? 0n) + delta);
      }
    }
  }
  return balances;
}

function sumOf(balances: Map<string, bigint>, code: AccountCode, owner?: string): bigint {
  let sum = 0n;
  for (const [key, value] of balances) {
    const [c, o] = key.split('|');
    if (c === code && (owner === undefined || o === owner)) sum += value;
  }
  return sum;
}

export function finalStates(stream: readonly StreamMessage[]) {
  const finals = new Map<string, StreamMessage['state']>();
  for (const message of stream) finals.set(message.state.payment_id, message.state);
  return [...finals.values()];
}

export function expectBooks(balance: (code: AccountCode, owner?: string) => bigint, expected: Expected): void {
  for (const [merchant_id, total] of expected.merchant_total) {
    expect(balance('merchant_pending', merchant_id) + balance('merchant_available', merchant_id) + balance('merchant_frozen', merchant_id)).toBe(total);
  }
  expect(balance('suspense')).toBe(expected.suspense);
  expect(balance('fee_income')).toBe(expected.fee_income);
  expect(balance('channel_fee_expense')).toBe(expected.channel_fee_expense);
  expect(balance('channel_receivable')).toBe(expected.channel_receivable);
  expect(balance('refunds_in_transit')).toBe(expected.refunds_in_transit);
}

const policies: MerchantBookSettings[] = [default_book_settings, { ...default_book_settings, refund_fee_policy: 'returned' }];

describe('posting rules', () => {
  test.each(policies.map((p) => [p.refund_fee_policy, p] as const))('random histories (fee policy %s): every entry balances, once, and the books say what the payments say', (_name, settings) => {
    fc.assert(
      fc.property(fc.array(payment_plan, { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 50 }), (plans, interleave) => {
        const stream = streamOf(plans, interleave);
        const balances = post(stream, settings);
        const returned = settings.refund_fee_policy === 'returned' ? feeReturned : () => 0n;
        expectBooks((code, owner) => sumOf(balances, code, owner), expectedBooks(finalStates(stream), returned));
        // Debit-normal balances equal credit-normal ones: the trial balance is zero.
        let debit_side = 0n;
        let credit_side = 0n;
        for (const [key, value] of balances) {
          if (normal_side[key.split('|')[0] as AccountCode] === 'debit') debit_side += value;
          else credit_side += value;
        }
        expect(debit_side).toBe(credit_side);
      }),
      { numRuns: 40 },
    );
  });

  test('a payment: channel owes the gross, the merchant is owed the net, fee income and channel cost both posted', () => {
    const [plan] = fc.sample(payment_plan, { numRuns: 1, seed: 1 });
    const stream = streamOf(
      [{ ...plan!, amount_minor: 10_000n, merchant_fee_minor: 60n, channel_fee_minor: 25n, paid: true, duplicates: [], refunds: [] }],
      [],
    );
    const postings = stream.flatMap((m) => postingsOf(m.events, m.state, default_book_settings));
    expect(postings.map((p) => p.txn_code)).toEqual(['PAYMENT', 'CHANNEL_FEE']);
    expect(postings[0]!.lines.map((l) => [l.code, l.debit_minor, l.credit_minor])).toEqual([
      ['channel_receivable', 10_000n, 0n], ['merchant_pending', 0n, 9_940n], ['fee_income', 0n, 60n],
    ]);
    expect(postings[1]!.lines.map((l) => [l.code, l.debit_minor, l.credit_minor])).toEqual([['channel_fee_expense', 25n, 0n], ['channel_receivable', 0n, 25n]]);
  });

  test('a reversed payment (短款 the channel never took): PAYMENT and CHANNEL_FEE undone, every account back to zero', () => {
    const [plan] = fc.sample(payment_plan, { numRuns: 1, seed: 1 });
    const plan_paid = { ...plan!, amount_minor: 10_000n, merchant_fee_minor: 60n, channel_fee_minor: 25n, paid: true, duplicates: [], refunds: [] };
    const stream = streamOf([plan_paid], []);
    const paid = stream[stream.length - 1]!;
    const winning = paid.state.winning_attempt_id!;
    const reversal = { type: 'PaymentReversed' as const, at: '2026-12-04T00:00:00.000Z', attempt_id: winning, reason_code: 'RECON_NOT_AT_CHANNEL', reference: 'd1' };
    const reversed: StreamMessage = { ...paid, events: [reversal], state: { ...paid.state, status: 'REVERSED', version: paid.state.version + 1 } };
    const postings = postingsOf(reversed.events, reversed.state, default_book_settings);
    expect(postings.map((p) => [p.txn_code, p.entry_key])).toEqual([
      ['PAYMENT_REVERSED', `${paid.state.payment_id}:${reversed.state.version}:PAYMENT_REVERSED`],
      ['PAYMENT_REVERSED_CHANNEL_FEE', `${paid.state.payment_id}:${reversed.state.version}:PAYMENT_REVERSED_CHANNEL_FEE`],
    ]);
    expect(postings[0]!.lines.map((l) => [l.code, l.debit_minor, l.credit_minor])).toEqual([
      ['channel_receivable', 0n, 10_000n], ['merchant_available', 9_940n, 0n], ['fee_income', 60n, 0n],
    ]);
    const balances = post([...stream, reversed], default_book_settings);
    for (const code of ['channel_receivable', 'fee_income', 'channel_fee_expense', 'suspense'] as const) expect({ code, balance: sumOf(balances, code) }).toEqual({ code, balance: 0n });
    expect(sumOf(balances, 'merchant_pending') + sumOf(balances, 'merchant_available')).toBe(0n);
  });

  test('partial refunds never return more than the fee; one full refund returns all of it', () => {
    fc.assert(fc.property(fc.bigInt({ min: 1n, max: 1n << 40n }), fc.array(fc.nat({ max: 1000 }), { maxLength: 6 }), (amount_minor, shares) => {
      const merchant_fee_minor = amount_minor / 100n;
      // The channel's fee (0.6 %, as the sandbox charges) comes back by the same rule.
      const channel_fee_minor = (amount_minor * 6n) / 1000n;
      const attempts: Attempt[] = [{ attempt_id: 'a1', attempt_no: 1, channel_id: 'wx1', state: 'succeeded', fee_minor: channel_fee_minor }];
      let left = amount_minor;
      let returned = 0n;
      let channel_returned = 0n;
      for (const share of shares) {
        const refund = (left * BigInt(share)) / 1000n;
        if (refund === 0n) continue;
        left -= refund;
        returned += feeReturned({ amount_minor, merchant_fee_minor }, refund);
        channel_returned += channelFeeOf({ amount_minor, attempts }, 'a1', refund);
      }
      expect(returned <= merchant_fee_minor).toBe(true);
      expect(channel_returned <= channel_fee_minor).toBe(true);
      expect(feeReturned({ amount_minor, merchant_fee_minor }, amount_minor)).toBe(merchant_fee_minor);
      expect(channelFeeOf({ amount_minor, attempts }, 'a1', amount_minor)).toBe(channel_fee_minor);
    }));
  });
});
