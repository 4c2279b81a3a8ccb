// Posting rules: what each payment event means to the books, as a table per transaction code
// (pure: no I/O, no clock). The store (core/ledger/store.ts) writes the postings; the
// database refuses any entry whose debits and credits differ (migrations/), so a wrong rule
// here fails loudly instead of skewing the books.

import { assert } from '../errors';
import type { PaymentEvent, PaymentState } from '../orders/types';

/** The chart of accounts (the `chart` table holds the same codes with their normal side). */
export type AccountCode =
  | 'channel_receivable' // 渠道应收: what a channel collected for us and owes us
  | 'merchant_pending' // 待结算: the merchant's money not yet past its settlement cycle
  | 'merchant_available' // 可用: the merchant's settled money
  | 'merchant_frozen' // 冻结: held by an operator
  | 'fee_income' // 手续费收入: the merchant fees paycore charges
  | 'channel_fee_expense' // 渠道成本: what the channels charge paycore
  | 'refunds_in_transit' // 退款在途: refunds accepted, not yet confirmed by the channel
  | 'suspense' // 挂账: money that belongs to nobody yet (a duplicate payment)
  | 'split_receiver' // 分账接收方: a receiver's share of a merchant's payments (core/splits)
  | 'member_wallet' // 会员钱包: a member's money, held for it by its merchant (core/payouts)
  | 'member_frozen'; // 会员冻结: a member's withdrawal in flight

export const normal_side: Record<AccountCode, 'debit' | 'credit'> = {
  channel_receivable: 'debit',
  merchant_pending: 'credit',
  merchant_available: 'credit',
  merchant_frozen: 'credit',
  fee_income: 'credit',
  channel_fee_expense: 'debit',
  refunds_in_transit: 'credit',
  suspense: 'credit',
  split_receiver: 'credit',
  member_wallet: 'credit',
  member_frozen: 'credit',
};

/** Whose account a leg touches (counterparty: the other merchant of a transfer; receiver: a
 * split's receiver, or the member of a member wallet). */
type OwnerOf = 'merchant' | 'channel' | 'platform' | 'counterparty' | 'receiver';
/** Which amount of the transaction a leg carries. */
type AmountOf = 'gross' | 'net' | 'merchant_fee' | 'channel_fee' | 'fee_returned';

interface Leg {
  side: 'debit' | 'credit';
  code: AccountCode;
  owner: OwnerOf;
  amount: AmountOf;
}

const leg = (side: Leg['side'], code: AccountCode, owner: OwnerOf, amount: AmountOf): Leg => ({ side, code, owner, amount });

/** The posting rules: one entry per transaction code, its legs in order. */
const posting_rules = {
  /** A payment paid: the channel owes the gross, the merchant is owed the net (pending until
   * its cycle), paycore earns the merchant fee. */
  PAYMENT: [leg('debit', 'channel_receivable', 'channel', 'gross'), leg('credit', 'merchant_pending', 'merchant', 'net'), leg('credit', 'fee_income', 'platform', 'merchant_fee')],
  /** What the channel keeps of it: paycore's cost (the margin is fee income less this). */
  CHANNEL_FEE: [leg('debit', 'channel_fee_expense', 'channel', 'channel_fee'), leg('credit', 'channel_receivable', 'channel', 'channel_fee')],
  /** Reconciliation reversed the payment (PaymentReversed: the channel never took it): PAYMENT
   * undone — the channel owes nothing, the merchant is owed nothing (taken from available,
   * where the net is by the time a 短款 is confirmed, or soon after its settlement), no fee
   * earned. */
  PAYMENT_REVERSED: [leg('credit', 'channel_receivable', 'channel', 'gross'), leg('debit', 'merchant_available', 'merchant', 'net'), leg('debit', 'fee_income', 'platform', 'merchant_fee')],
  /** CHANNEL_FEE undone: a channel that took no payment charges no fee. */
  PAYMENT_REVERSED_CHANNEL_FEE: [leg('debit', 'channel_receivable', 'channel', 'channel_fee'), leg('credit', 'channel_fee_expense', 'channel', 'channel_fee')],
  /** A merchant refund accepted: the merchant pays it back, the money is on its way. */
  REFUND: [leg('debit', 'merchant_available', 'merchant', 'gross'), leg('credit', 'refunds_in_transit', 'channel', 'gross')],
  /** The channel confirmed the refund: it paid the payer out of what it owed us. */
  REFUND_SETTLED: [leg('debit', 'refunds_in_transit', 'channel', 'gross'), leg('credit', 'channel_receivable', 'channel', 'gross')],
  /** The refund failed: the merchant gets its money back. */
  REFUND_REVERSED: [leg('debit', 'refunds_in_transit', 'channel', 'gross'), leg('credit', 'merchant_available', 'merchant', 'gross')],
  /** The merchant refund confirmed: the channel returns its fee on the refunded share (pro
   * rata, rounded down), so a fully refunded payment costs paycore no channel fee. */
  CHANNEL_FEE_RETURN: [leg('debit', 'channel_receivable', 'channel', 'channel_fee'), leg('credit', 'channel_fee_expense', 'channel', 'channel_fee')],
  /** Policy 'returned': the refunded share of the merchant fee goes back to the merchant. */
  REFUND_FEE_RETURN: [leg('debit', 'fee_income', 'platform', 'fee_returned'), leg('credit', 'merchant_available', 'merchant', 'fee_returned')],
  /** Money received twice: the channel owes it, nobody is owed it yet. */
  DUPLICATE: [leg('debit', 'channel_receivable', 'channel', 'gross'), leg('credit', 'suspense', 'platform', 'gross')],
  /** Its automatic refund accepted. */
  DUPLICATE_REFUND: [leg('debit', 'suspense', 'platform', 'gross'), leg('credit', 'refunds_in_transit', 'channel', 'gross')],
  DUPLICATE_REFUND_REVERSED: [leg('debit', 'refunds_in_transit', 'channel', 'gross'), leg('credit', 'suspense', 'platform', 'gross')],
  /** The channel's cost of the duplicate: it charges its fee on every transaction it takes,
   * the duplicate included (paycore's cost, never the merchant's). */
  DUPLICATE_CHANNEL_FEE: [leg('debit', 'channel_fee_expense', 'channel', 'channel_fee'), leg('credit', 'channel_receivable', 'channel', 'channel_fee')],
  /** The duplicate's refund confirmed: the channel returns the fee with it, so a refunded
   * duplicate nets to zero on every account. */
  DUPLICATE_CHANNEL_FEE_RETURN: [leg('debit', 'channel_receivable', 'channel', 'channel_fee'), leg('credit', 'channel_fee_expense', 'channel', 'channel_fee')],
  /** The settlement cut-off: pending becomes available. */
  SETTLEMENT: [leg('debit', 'merchant_pending', 'merchant', 'gross'), leg('credit', 'merchant_available', 'merchant', 'gross')],
  /** An operator's hold, and its release. */
  HOLD: [leg('debit', 'merchant_available', 'merchant', 'gross'), leg('credit', 'merchant_frozen', 'merchant', 'gross')],
  RELEASE: [leg('debit', 'merchant_frozen', 'merchant', 'gross'), leg('credit', 'merchant_available', 'merchant', 'gross')],
  /** Reconciliation (core/recon): the channel's figure differs from the books' (an amount, or
   * a fee, mismatch) — the difference is held in suspense (挂账) until an operator settles it.
   * gross = what the channel owes us by its statement less what the books say (negative: less
   * than we booked, the legs swap). */
  RECON_SUSPENSE: [leg('debit', 'channel_receivable', 'channel', 'gross'), leg('credit', 'suspense', 'platform', 'gross')],
  /** Its resolution (销账): the suspense entry reversed once the operator settled it. */
  RECON_RESOLVE: [leg('debit', 'suspense', 'platform', 'gross'), leg('credit', 'channel_receivable', 'channel', 'gross')],
  /** A payout (core/payouts) in flight: the amount leaves available for frozen until the
   * provider answers. */
  PAYOUT_FREEZE: [leg('debit', 'merchant_available', 'merchant', 'gross'), leg('credit', 'merchant_frozen', 'merchant', 'gross')],
  /** It failed: the frozen amount is available again. */
  PAYOUT_RELEASE: [leg('debit', 'merchant_frozen', 'merchant', 'gross'), leg('credit', 'merchant_available', 'merchant', 'gross')],
  /** The channel paid it out of what it holds for us. */
  PAYOUT_SENT: [leg('debit', 'merchant_frozen', 'merchant', 'gross'), leg('credit', 'channel_receivable', 'channel', 'gross')],
  /** The receiving bank sent it back: the channel holds it again, the merchant has it again. */
  PAYOUT_RETURNED: [leg('debit', 'channel_receivable', 'channel', 'gross'), leg('credit', 'merchant_available', 'merchant', 'gross')],
  /** A refund paid by a payout (core/payouts), the refund's channel no longer able to: refunds
   * in transit (the refund's channel) clear against the payout channel's (counterparty) receivable. */
  REFUND_PAYOUT_SETTLED: [leg('debit', 'refunds_in_transit', 'channel', 'gross'), leg('credit', 'channel_receivable', 'counterparty', 'gross')],
  /** A transfer (core/payouts/transfers.ts) between two merchants of one group. */
  TRANSFER: [leg('debit', 'merchant_available', 'merchant', 'gross'), leg('credit', 'merchant_available', 'counterparty', 'gross')],
  /** A split (分账, core/splits): a receiver's share of a paid payment leaves the merchant. */
  SPLIT: [leg('debit', 'merchant_available', 'merchant', 'gross'), leg('credit', 'split_receiver', 'receiver', 'gross')],
  /** A refund of a split payment takes the receivers' shares back first (分账回退). */
  SPLIT_RETURN: [leg('debit', 'split_receiver', 'receiver', 'gross'), leg('credit', 'merchant_available', 'merchant', 'gross')],
  /** That refund failed: the returned share goes back to its receiver. */
  SPLIT_RETURN_REVERSED: [leg('debit', 'merchant_available', 'merchant', 'gross'), leg('credit', 'split_receiver', 'receiver', 'gross')],
  /** A split's share to a member of the merchant (core/splits, receiver type MEMBER): its wallet. */
  SPLIT_TO_MEMBER: [leg('debit', 'merchant_available', 'merchant', 'gross'), leg('credit', 'member_wallet', 'receiver', 'gross')],
  /** A refund takes that share back first — only what the wallet still holds. */
  SPLIT_RETURN_MEMBER: [leg('debit', 'member_wallet', 'receiver', 'gross'), leg('credit', 'merchant_available', 'merchant', 'gross')],
  /** That refund failed: what was taken goes back to the wallet. */
  SPLIT_RETURN_MEMBER_REVERSED: [leg('debit', 'merchant_available', 'merchant', 'gross'), leg('credit', 'member_wallet', 'receiver', 'gross')],
  /** A transfer from a merchant to one of its members' wallets (core/payouts/transfers.ts). */
  MEMBER_CREDIT: [leg('debit', 'merchant_available', 'merchant', 'gross'), leg('credit', 'member_wallet', 'receiver', 'gross')],
  /** A member paying its merchant from its wallet (core/payouts/transfers.ts, from_member_id). */
  MEMBER_DEBIT: [leg('debit', 'member_wallet', 'receiver', 'gross'), leg('credit', 'merchant_available', 'merchant', 'gross')],
  /** A member's withdrawal (a payout from its wallet) in flight. */
  MEMBER_WITHDRAW_FREEZE: [leg('debit', 'member_wallet', 'receiver', 'gross'), leg('credit', 'member_frozen', 'receiver', 'gross')],
  /** It failed: the wallet is refilled. */
  MEMBER_WITHDRAW_RELEASE: [leg('debit', 'member_frozen', 'receiver', 'gross'), leg('credit', 'member_wallet', 'receiver', 'gross')],
  /** The channel paid it out of what it holds for us. */
  MEMBER_WITHDRAW_SENT: [leg('debit', 'member_frozen', 'receiver', 'gross'), leg('credit', 'channel_receivable', 'channel', 'gross')],
  /** The receiving bank sent it back: the wallet is refilled. */
  MEMBER_WITHDRAW_RETURNED: [leg('debit', 'channel_receivable', 'channel', 'gross'), leg('credit', 'member_wallet', 'receiver', 'gross')],
} as const satisfies Record<string, readonly Leg[]>;

export type TxnCode = keyof typeof posting_rules;

export interface Line {
  code: AccountCode;
  owner: string;
  debit_minor: bigint;
  credit_minor: bigint;
}

export interface Posting {
  /** Unique: the database refuses a second posting with it. */
  entry_key: string;
  txn_code: TxnCode;
  merchant_id: string;
  payment_id?: string;
  ref_id?: string;
  currency: string;
  /** When it happened (ISO-8601): its business date follows from it. */
  at: string;
  lines: Line[];
}

export interface MerchantBookSettings {
  settlement_days: number;
  refund_fee_policy: 'kept' | 'returned';
  refund_funding: 'refuse' | 'overdraft';
  overdraft_limit_minor: bigint;
}

export const default_book_settings: MerchantBookSettings = { settlement_days: 1, refund_fee_policy: 'kept', refund_funding: 'refuse', overdraft_limit_minor: 0n };

export const platform_owner = 'platform';

export interface Parties {
  merchant_id: string;
  channel_id: string;
  currency: string;
  /** TRANSFER: the merchant receiving it; REFUND_PAYOUT_SETTLED: the payout's channel. */
  counterparty_id?: string;
  /** The split receiver's account owner (splits), or the member's (member wallets). */
  receiver?: string;
}

/** The lines of one transaction code for these amounts: zero legs dropped, a negative amount
 * posted on the other side (a merchant fee above the amount makes the net a debit). */
export function linesOf(txn_code: TxnCode, parties: Parties, amounts: Partial<Record<AmountOf, bigint>>): Line[] {
  const lines: Line[] = [];
  for (const rule of posting_rules[txn_code] as readonly Leg[]) {
    const amount = amounts[rule.amount] ?? 0n;
    if (amount === 0n) continue;
    const side = amount > 0n ? rule.side : rule.side === 'debit' ? 'credit' : 'debit';
    const magnitude = amount > 0n ? amount : -amount;
    const owner = ownerOf(rule.owner, parties);
    lines.push({ code: rule.code, owner, debit_minor: side === 'debit' ? magnitude : 0n, credit_minor: side === 'credit' ? magnitude : 0n });
  }
  return lines;
}

function ownerOf(owner: OwnerOf, parties: Parties): string {
  switch (owner) {
    case 'merchant':
      return parties.merchant_id;
    case 'channel':
      return parties.channel_id;
    case 'platform':
      return platform_owner;
    case 'counterparty':
      assert(parties.counterparty_id !== undefined, 'ledger rules: a counterparty leg needs counterparty_id');
      return parties.counterparty_id;
    case 'receiver':
      assert(parties.receiver !== undefined, 'ledger: a split or member leg needs its receiver');
      return parties.receiver;
  }
}

/** The postings one stored message of the event log causes: each of its events in order.
 * `state` is the state after the message (refunds and attempts are found in it by id);
 * the version of event i of n is state.version − (n − 1 − i). */
export function postingsOf(events: readonly PaymentEvent[], state: PaymentState, settings: MerchantBookSettings): Posting[] {
  const postings: Posting[] = [];
  events.forEach((event, index) => {
    const version = state.version - (events.length - 1 - index);
    for (const posting of postingsOfEvent(event, state, settings)) {
      postings.push({ ...posting, entry_key: `${state.payment_id}:${version}:${posting.txn_code}`, merchant_id: state.merchant_id, payment_id: state.payment_id, currency: state.currency, at: event.at });
    }
  });
  return postings.filter((posting) => posting.lines.length > 0);
}

type Partial_posting = Pick<Posting, 'txn_code' | 'lines'> & { ref_id?: string };

function postingsOfEvent(event: PaymentEvent, state: PaymentState, settings: MerchantBookSettings): Partial_posting[] {
  const parties = (channel_id: string): Parties => ({ merchant_id: state.merchant_id, channel_id, currency: state.currency });
  switch (event.type) {
    case 'AttemptSucceeded': {
      const channel_id = channelOfAttempt(state, event.attempt_id);
      const merchant_fee = state.merchant_fee_minor ?? 0n;
      return [
        { txn_code: 'PAYMENT', ref_id: event.attempt_id, lines: linesOf('PAYMENT', parties(channel_id), { gross: event.amount_minor, net: event.amount_minor - merchant_fee, merchant_fee }) },
        { txn_code: 'CHANNEL_FEE', ref_id: event.attempt_id, lines: linesOf('CHANNEL_FEE', parties(channel_id), { channel_fee: state.fee_minor }) },
      ];
    }
    case 'PaymentReversed': {
      const channel_id = channelOfAttempt(state, event.attempt_id);
      const merchant_fee = state.merchant_fee_minor ?? 0n;
      return [
        { txn_code: 'PAYMENT_REVERSED', ref_id: event.attempt_id, lines: linesOf('PAYMENT_REVERSED', parties(channel_id), { gross: state.amount_minor, net: state.amount_minor - merchant_fee, merchant_fee }) },
        { txn_code: 'PAYMENT_REVERSED_CHANNEL_FEE', ref_id: event.attempt_id, lines: linesOf('PAYMENT_REVERSED_CHANNEL_FEE', parties(channel_id), { channel_fee: state.fee_minor }) },
      ];
    }
    case 'DuplicatePaymentDetected': {
      const channel = parties(channelOfAttempt(state, event.attempt_id));
      return [
        { txn_code: 'DUPLICATE', ref_id: event.channel_trade_no, lines: linesOf('DUPLICATE', channel, { gross: event.amount_minor }) },
        { txn_code: 'DUPLICATE_CHANNEL_FEE', ref_id: event.channel_trade_no, lines: linesOf('DUPLICATE_CHANNEL_FEE', channel, { channel_fee: channelFeeOf(state, event.attempt_id, event.amount_minor) }) },
      ];
    }
    case 'RefundRequested': {
      const code = event.kind === 'merchant' ? 'REFUND' : 'DUPLICATE_REFUND';
      return [{ txn_code: code, ref_id: event.refund_id, lines: linesOf(code, parties(event.channel_id), { gross: event.amount_minor }) }];
    }
    case 'RefundSucceeded': {
      const refund = refundOf(state, event.refund_id);
      if (event.payout !== undefined) return refundPaidOut(refund, event.payout.channel_id, state, settings);
      const postings: Partial_posting[] = [{ txn_code: 'REFUND_SETTLED', ref_id: refund.refund_id, lines: linesOf('REFUND_SETTLED', parties(refund.channel_id), { gross: refund.amount_minor }) }];
      // The channel returns its fee on the refunded amount, for a merchant refund as for a duplicate's.
      const fee_code = refund.kind === 'merchant' ? 'CHANNEL_FEE_RETURN' : 'DUPLICATE_CHANNEL_FEE_RETURN';
      const channel_fee = channelFeeOf(state, refund.attempt_id, refund.amount_minor);
      postings.push({ txn_code: fee_code, ref_id: refund.refund_id, lines: linesOf(fee_code, parties(refund.channel_id), { channel_fee }) });
      if (refund.kind === 'merchant' && settings.refund_fee_policy === 'returned') {
        postings.push({ txn_code: 'REFUND_FEE_RETURN', ref_id: refund.refund_id, lines: linesOf('REFUND_FEE_RETURN', parties(refund.channel_id), { fee_returned: feeReturned(state, refund.amount_minor) }) });
      }
      return postings;
    }
    case 'RefundFailed': {
      const refund = refundOf(state, event.refund_id);
      const code = refund.kind === 'merchant' ? 'REFUND_REVERSED' : 'DUPLICATE_REFUND_REVERSED';
      return [{ txn_code: code, ref_id: refund.refund_id, lines: linesOf(code, parties(refund.channel_id), { gross: refund.amount_minor }) }];
    }
    // A refund that needs a manual payout stays in transit until an operator pays it.
    default:
      return [];
  }
}

/** A refund paid by a payout (core/payouts): the payout's channel paid it out of what it holds
 * for us, so refunds in transit clear against that channel's receivable; the refund's channel
 * refunded nothing and returns no fee. */
function refundPaidOut(refund: RefundOf, payout_channel_id: string, state: PaymentState, settings: MerchantBookSettings): Partial_posting[] {
  const parties: Parties = { merchant_id: state.merchant_id, channel_id: refund.channel_id, counterparty_id: payout_channel_id, currency: state.currency };
  const postings: Partial_posting[] = [{ txn_code: 'REFUND_PAYOUT_SETTLED', ref_id: refund.refund_id, lines: linesOf('REFUND_PAYOUT_SETTLED', parties, { gross: refund.amount_minor }) }];
  if (refund.kind === 'merchant' && settings.refund_fee_policy === 'returned') {
    postings.push({ txn_code: 'REFUND_FEE_RETURN', ref_id: refund.refund_id, lines: linesOf('REFUND_FEE_RETURN', parties, { fee_returned: feeReturned(state, refund.amount_minor) }) });
  }
  return postings;
}

type RefundOf = PaymentState['refunds'][number];

/** The refunded share of the merchant fee, rounded down so that partial refunds never return
 * more than the fee in total (one refund of the whole amount returns the whole fee). */
export function feeReturned(state: Pick<PaymentState, 'amount_minor' | 'merchant_fee_minor'>, refund_minor: bigint): bigint {
  return ((state.merchant_fee_minor ?? 0n) * refund_minor) / state.amount_minor;
}

/** The channel's fee on `amount_minor` taken on an attempt: the attempt's fee (its
 * ChannelRequested.fee_minor, on the payment's amount) pro rata, rounded down — the same
 * figure for a duplicate and for its refund, so the two cancel exactly, and for a merchant
 * refund's share, so partial refunds never return more than the fee in total. */
export function channelFeeOf(state: Pick<PaymentState, 'amount_minor' | 'attempts'>, attempt_id: string, amount_minor: bigint): bigint {
  const fee = state.attempts.find((a) => a.attempt_id === attempt_id)?.fee_minor ?? 0n;
  return state.amount_minor === 0n ? 0n : (fee * amount_minor) / state.amount_minor;
}

function channelOfAttempt(state: PaymentState, attempt_id: string): string {
  // Every attempt id names a ChannelRequested; a stream without it still posts (to a channel
  // named 'unknown' that reconciliation will flag) rather than stop the books.
  return state.attempts.find((a) => a.attempt_id === attempt_id)?.channel_id ?? 'unknown';
}

function refundOf(state: PaymentState, refund_id: string) {
  const refund = state.refunds.find((r) => r.refund_id === refund_id);
  assert(refund !== undefined, `ledger: ${state.payment_id} has no refund ${refund_id}`);
  return refund;
}

/** Σ debit − Σ credit of a posting's lines: zero for every posting the rules make. */
export function imbalance(lines: readonly Line[]): bigint {
  let sum = 0n;
  for (const line of lines) sum += line.debit_minor - line.credit_minor;
  return sum;
}
