// A split (分账): part of a paid payment shared with receivers the merchant names, the rest
// staying with the merchant. Its own event log, state machine and durable follow-ups
// (core/splits/README.md); the books post the shares (core/ledger/splits.ts, SPLIT) only
// while they fit in what the payment has left, and a refund takes them back first.

/** PENDING: recorded, the shares not posted yet. SUCCEEDED: the shares are the receivers'.
 * FAILED: nothing moved (failure says why). */
export type SplitStatus = 'PENDING' | 'SUCCEEDED' | 'FAILED';

interface SplitReceiver {
  /** The merchant's name for the receiver: its account is `<merchant_id>/<receiver_id>`. */
  receiver_id: string;
  amount_minor: bigint;
}

export interface SplitInput {
  merchant_id: string;
  merchant_split_no: string;
  payment_id: string;
  currency: string;
  receivers: SplitReceiver[];
  description: string;
}

export interface SplitState extends SplitInput {
  split_id: string;
  status: SplitStatus;
  /** Σ receivers' amounts. */
  amount_minor: bigint;
  failure?: { code: string; message: string };
  version: number;
  created_at: string;
  updated_at: string;
  finished_at?: string;
}

export type SplitEvent =
  | ({ type: 'SplitCreated'; split_id: string; at: string } & SplitInput)
  | { type: 'SplitSucceeded'; at: string }
  | { type: 'SplitFailed'; code: string; message: string; at: string };

/** What the books answered (core/ledger/splits.ts AllocateResult), or the last follow-up. */
export type SplitCommand =
  | { type: 'create'; split_id: string; input: SplitInput; at: string }
  | { type: 'allocated'; at: string }
  | { type: 'refused'; code: string; message: string; at: string };

interface SplitRejection {
  reason: 'IDEMPOTENCY_KEY_REUSED' | 'NOT_FOUND';
  message: string;
}

export type SplitDecision = { events: SplitEvent[] } | { rejection: SplitRejection };
