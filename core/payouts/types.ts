// A payout (代付): money leaving a merchant's available balance for a bank account, through a
// channel that offers a payout product (channels/bankgw). Its own event log, state machine and
// durable follow-ups (core/payouts/README.md); the books freeze the amount while it is in
// flight (core/ledger, PAYOUT_* transaction codes).

/** PENDING: recorded, nothing sent. PROCESSING: written ahead of the provider call (the
 * provider may have it). SUCCEEDED: the provider paid it. FAILED: nothing paid (funds
 * released). REQUIRES_MANUAL: the outcome stayed unknown after every query (funds stay
 * frozen). RETURNED: paid, then the receiving bank sent it back (funds back to available). */
export type PayoutStatus = 'PENDING' | 'PROCESSING' | 'SUCCEEDED' | 'FAILED' | 'REQUIRES_MANUAL' | 'RETURNED';


export interface PayoutInput {
  merchant_id: string;
  merchant_payout_no: string;
  amount_minor: bigint;
  currency: string;
  channel_id: string;
  bank_code: string;
  /** The payee (account number and name), sealed (core/seal.ts): personal data never in clear. */
  payee_sealed: string;
  /** The account number's last four digits, for display. */
  payee_last4: string;
  purpose: string;
  /** A refund paid by this payout (PayoutAdminService PayRefundByPayout): the money is the
   * refund's, already in refunds_in_transit, so nothing is frozen from the merchant's balance
   * and the books post it as the refund's settlement (core/ledger REFUND_PAYOUT_SETTLED) once
   * the orders module records the payout on the refund. */
  refund?: { payment_id: string; refund_id: string };
  /** A member's withdrawal (提现): paid from the wallet of this member of the merchant
   * (member_wallet '<merchant_id>/<member_id>') instead of the merchant's available balance. */
  member_id?: string;
}

/** An operator's settlement of a REQUIRES_MANUAL payout (PayoutAdminService ResolvePayout). */
interface PayoutResolution {
  /** succeeded: the bank paid it (channel_payout_no, its reference); failed: it did not (funds released). */
  outcome: 'succeeded' | 'failed';
  reason: string;
  /** Who resolved it: `app:<app_id>`. */
  actor: string;
  at: string;
}

export interface PayoutState extends PayoutInput {
  payout_id: string;
  status: PayoutStatus;
  /** Whether the books hold the amount frozen (PAYOUT_FREEZE posted). */
  frozen: boolean;
  channel_payout_no?: string;
  failure?: { code: string; message: string };
  version: number;
  created_at: string;
  updated_at: string;
  submitted_at?: string;
  paid_at?: string;
  /** Set when an operator resolved it from REQUIRES_MANUAL. */
  resolution?: PayoutResolution;
}

export type PayoutEvent =
  | ({ type: 'PayoutCreated'; payout_id: string; at: string } & PayoutInput)
  | { type: 'PayoutFundsFrozen'; at: string }
  /** The write-ahead: recorded before the provider is called. */
  | { type: 'PayoutSubmitted'; at: string }
  | { type: 'PayoutSucceeded'; channel_payout_no: string; paid_at: string; at: string }
  | { type: 'PayoutFailed'; code: string; message: string; at: string }
  | { type: 'PayoutRequiresManual'; message: string; at: string }
  | { type: 'PayoutReturned'; code: string; at: string }
  /** An operator settled a REQUIRES_MANUAL payout (the audit record: who, why, what the bank said). */
  | ({ type: 'PayoutResolved'; channel_payout_no?: string } & PayoutResolution);

/** What the provider said about a payout (submit or query). */
export type ProviderPayoutStatus =
  | { kind: 'processing' }
  | { kind: 'succeeded'; channel_payout_no: string; paid_at: string }
  | { kind: 'failed'; code: string; message: string }
  | { kind: 'returned'; code: string; channel_payout_no: string }
  | { kind: 'not_found' };

export type PayoutCommand =
  | { type: 'create'; payout_id: string; input: PayoutInput; at: string }
  /** The books froze the amount (or refused: the balance is short, INSUFFICIENT_BALANCE, or a
   * member's withdrawals of the day would pass its daily limit, DAILY_LIMIT_EXCEEDED). */
  | { type: 'freeze_result'; frozen: boolean; code?: string; message?: string; at: string }
  | { type: 'submit'; at: string }
  /** What the provider answered; `exhausted`: the last query round. */
  | { type: 'provider'; status: ProviderPayoutStatus; exhausted: boolean; at: string }
  /** The provider refused the submit before accepting it (nothing paid). */
  | { type: 'refused'; code: string; message: string; at: string }
  /** An operator's resolution of a REQUIRES_MANUAL payout; succeeded needs the bank's reference. */
  | ({ type: 'resolve'; channel_payout_no?: string } & PayoutResolution);

interface PayoutRejection {
  reason: 'IDEMPOTENCY_KEY_REUSED' | 'ILLEGAL_STATE' | 'NOT_FOUND';
  message: string;
}

export type PayoutDecision = { events: PayoutEvent[] } | { rejection: PayoutRejection };
