// A split (分账): part of a paid payment shared with receivers the merchant names, the rest
// staying with the merchant. Its own event log, state machine and durable follow-ups
// (core/splits/README.md); the books post the shares (core/ledger/splits.ts, SPLIT) only
// while they fit in what the payment has left, and a refund takes them back first.

/** PENDING: recorded, the shares not posted yet. PROCESSING: a channel split, its shares held
 * in flight in the books and the provider asked (written ahead of the call). SUCCEEDED: the
 * shares are the receivers'. FAILED: nothing moved (failure says why). REQUIRES_MANUAL: a
 * channel split the provider left PROCESSING through the bound of follow-up queries, for an
 * operator; still queried, and finished like PROCESSING once the provider answers. */
export type SplitStatus = 'PENDING' | 'PROCESSING' | 'REQUIRES_MANUAL' | 'SUCCEEDED' | 'FAILED';

/** Where a split is made: the paid attempt's channel, when it offers profit sharing (分账). */
export interface SplitChannel {
  channel_id: string;
  attempt_id: string;
  /** The provider's transaction id of the paid attempt. */
  channel_trade_no: string;
  product: string;
  amount_minor: bigint;
}

/** A return of part of one share through the provider, before a refund (分账回退). */
export interface SplitReturn {
  /** Ours and the provider's key (out_return_no): `<refund_id>_<split_id>_<line>`. */
  return_no: string;
  refund_id: string;
  /** 1-based receiver line. */
  line_no: number;
  amount_minor: bigint;
  /** REQUIRES_MANUAL: the provider left it open through the bound of follow-up queries (still
   * queried; settled like PROCESSING once the provider answers). */
  status: 'PROCESSING' | 'REQUIRES_MANUAL' | 'SUCCEEDED' | 'FAILED';
  failure?: { code: string; message: string };
  /** When it was written ahead (absent in states from before the bound). */
  requested_at?: string;
  /** An operator settled it from REQUIRES_MANUAL (SplitAdminService ResolveSplitReturn). */
  resolved?: { actor: string; reason: string };
}

interface SplitReceiver {
  /** The merchant's name for the receiver: its account is `<merchant_id>/<receiver_id>`. */
  receiver_id: string;
  amount_minor: bigint;
  /** A member of the merchant (receiver_id its member_id): the share goes to its member wallet
   * (core/payouts/wallets.ts), in the books only. Absent: the merchant's receiver. */
  member?: true;
  /** The receiver's registered name for the channel (WeChat: a MERCHANT_ID receiver's full
   * merchant name), sealed (core/seal.ts): personal data never in clear in the log. */
  name_sealed?: string;
}

export interface SplitInput {
  merchant_id: string;
  merchant_split_no: string;
  payment_id: string;
  currency: string;
  receivers: SplitReceiver[];
  description: string;
  /** Set when the payment's channel makes the split (from the payment, not the request). */
  channel?: SplitChannel;
  /** The merchant's last split of the payment (分账完结): at the channel, what is left unsplit
   * is unfrozen to the merchant with it. Absent: false. */
  finish?: true;
}

export interface SplitState extends SplitInput {
  split_id: string;
  status: SplitStatus;
  /** Σ receivers' amounts. */
  amount_minor: bigint;
  failure?: { code: string; message: string };
  /** The provider's number of the split order (WeChat order_id), once finished. */
  channel_split_no?: string;
  /** Per receiver line: whether the provider's split reached it (absent: every one did). */
  received?: boolean[];
  /** Returns through the provider, in the order asked. */
  returns: SplitReturn[];
  version: number;
  created_at: string;
  updated_at: string;
  finished_at?: string;
}

export type SplitEvent =
  | ({ type: 'SplitCreated'; split_id: string; at: string } & SplitInput)
  /** Write-ahead: the books hold the shares in flight; the provider is asked next. */
  | { type: 'SplitSubmitted'; at: string }
  | { type: 'SplitSucceeded'; at: string; channel_split_no?: string; received?: boolean[] }
  | { type: 'SplitFailed'; code: string; message: string; at: string }
  /** The provider left it PROCESSING through `queries` follow-ups: REQUIRES_MANUAL. */
  | { type: 'SplitStalled'; queries: number; at: string }
  /** Write-ahead of a return: durable before the provider is asked. */
  | { type: 'SplitReturnRequested'; return_no: string; refund_id: string; line_no: number; amount_minor: bigint; at: string }
  | { type: 'SplitReturnSettled'; return_no: string; succeeded: boolean; code?: string; message?: string; at: string }
  /** The provider left the return open through the bound of follow-up queries: REQUIRES_MANUAL. */
  | { type: 'SplitReturnStalled'; return_no: string; at: string }
  /** An operator settled a REQUIRES_MANUAL return: returned or not, who (`app:<app_id>`) and why. */
  | { type: 'SplitReturnResolved'; return_no: string; returned: boolean; actor: string; reason: string; at: string };

/** What the books answered (core/ledger/splits.ts AllocateResult), or the last follow-up. */
export type SplitCommand =
  | { type: 'create'; split_id: string; input: SplitInput; at: string }
  | { type: 'allocated'; at: string }
  | { type: 'refused'; code: string; message: string; at: string }
  /** The provider finished the split (received: per line). */
  | { type: 'shared'; channel_split_no: string; received: boolean[]; at: string }
  /** The last follow-up query within the bound found it still PROCESSING. */
  | { type: 'stalled'; queries: number; at: string }
  | { type: 'return'; return_no: string; refund_id: string; line_no: number; amount_minor: bigint; at: string }
  | { type: 'return_settled'; return_no: string; succeeded: boolean; code?: string; message?: string; at: string }
  /** An open return past the bound of follow-up queries. */
  | { type: 'return_stalled'; return_no: string; at: string }
  /** An operator's settlement of a REQUIRES_MANUAL return. */
  | { type: 'return_resolved'; return_no: string; returned: boolean; actor: string; reason: string; at: string };

interface SplitRejection {
  reason: 'IDEMPOTENCY_KEY_REUSED' | 'NOT_FOUND' | 'ILLEGAL_STATE';
  message: string;
}

export type SplitDecision = { events: SplitEvent[] } | { rejection: SplitRejection };
