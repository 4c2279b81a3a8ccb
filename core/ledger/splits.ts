// The books' side of splits (分账, core/splits/README.md): a split's shares posted from the
// merchant to its receivers only while they fit in what the payment has left, and the
// receivers' shares taken back first when the payment is refunded (分账回退, in the projection's
// transaction, so a refund and a split of one payment are never both unaware of each other).
//
// The limit: Σ shares (net of returns) ≤ paid − the merchant's fee − merchant refunds not
// failed. A split locks the payment's query row (payments, FOR UPDATE); the projection writes
// that row in the transaction that posts a refund and takes the shares back: whichever commits
// second sees the other.

import type pg from 'pg';
import { refund_codes_paid_by_payout } from '../orders/decide';
import type { PaymentEvent, PaymentState } from '../orders/types';
import { fundingCover, fundingFloor, lockFunds } from './funding';
import { returnsOf } from '../splits/shares';
import { linesOf, type Posting } from './rules';

/** A transaction's client and how it posts (LedgerStore.post with the open date bound). */
export interface PostingTx {
  client: pg.PoolClient;
  post(posting: Posting): Promise<boolean>;
}

export interface SplitShares {
  split_id: string;
  merchant_id: string;
  payment_id: string;
  currency: string;
  /** member: the receiver is a member of the merchant, its share posted to its member wallet
   * (SPLIT_TO_MEMBER; in the books only, never with channel_id). */
  receivers: readonly { receiver_id: string; amount_minor: bigint; member?: true }[];
  /** When the split was decided (ISO-8601): the business date of its postings. */
  at: string;
  /** The channel making the split (its provider's profit sharing): the shares are in flight
   * until confirmSplit. Absent: split in the books only. */
  channel_id?: string;
}

export type AllocateResult =
  | { kind: 'allocated' }
  /** Never will be: the payment is not paid, not this merchant's, or too little is left. */
  | { kind: 'refused'; code: 'EXCEEDS_SPLITTABLE' | 'PAYMENT_NOT_PAID' | 'CURRENCY_MISMATCH' | 'INSUFFICIENT_BALANCE'; message: string }
  /** Not yet: the books have not seen the payment paid (the projection lags the event log). */
  | { kind: 'not_yet'; message: string };

/** The split_receiver account of a merchant's receiver: receivers are named by the merchant. */
export function receiverOwner(merchant_id: string, receiver_id: string): string {
  return `${merchant_id}/${receiver_id}`;
}

const paid_statuses = new Set(['SUCCEEDED', 'PARTIALLY_REFUNDED', 'REFUNDED']);
const final_unpaid = new Set(['FAILED', 'CLOSED', 'REVERSED']);

/** What is left to split of a payment (its row locked by the caller). */
async function splittable(client: pg.PoolClient, payment_id: string, amount_minor: bigint, fee_minor: bigint): Promise<bigint> {
  const used = await client.query<{ refunds: bigint; shares: bigint }>(
    `SELECT ((SELECT coalesce(sum(amount_minor), 0) FROM refunds WHERE payment_id = $1 AND kind = 'merchant' AND state <> 'FAILED')
           + (SELECT coalesce(sum(c.amount_minor), 0) FROM channel_refund_claims c
               WHERE c.payment_id = $1 AND NOT c.released AND NOT EXISTS (SELECT 1 FROM refunds f WHERE f.refund_id = c.refund_id)))::bigint AS refunds,
            (SELECT coalesce(sum(amount_minor - returned_minor), 0) FROM split_receivers WHERE payment_id = $1)::bigint AS shares`,
    [payment_id],
  );
  const row = used.rows[0]!;
  return amount_minor - fee_minor - row.refunds - row.shares;
}

/** Posts the split's shares (SPLIT, merchant_available → split_receiver) when they fit; a
 * split already allocated answers allocated and posts nothing again. */
export async function allocateSplit(tx: PostingTx, split: SplitShares): Promise<AllocateResult> {
  const { client } = tx;
  const done = await client.query('SELECT 1 FROM split_receivers WHERE split_id = $1 LIMIT 1', [split.split_id]);
  if (done.rows.length > 0) return { kind: 'allocated' };
  // The refund check's locks first (funding.ts), then the payment's row: the projection's order.
  await lockFunds(client, split.merchant_id, split.currency);
  const payment = await client.query<{ merchant_id: string; status: string; currency: string; amount_minor: bigint; merchant_fee_minor: bigint }>(
    'SELECT merchant_id, status, currency, amount_minor, merchant_fee_minor FROM payments WHERE payment_id = $1 FOR UPDATE',
    [split.payment_id],
  );
  const row = payment.rows[0];
  if (row === undefined || (!paid_statuses.has(row.status) && !final_unpaid.has(row.status))) {
    return { kind: 'not_yet', message: `the books have not seen payment ${split.payment_id} paid yet` };
  }
  if (row.merchant_id !== split.merchant_id || final_unpaid.has(row.status)) {
    return { kind: 'refused', code: 'PAYMENT_NOT_PAID', message: `payment ${split.payment_id} is not a paid payment of this merchant` };
  }
  if (row.currency !== split.currency) return { kind: 'refused', code: 'CURRENCY_MISMATCH', message: `the payment is in ${row.currency}` };
  // An unfreeze (a finishing split of no receivers) moves nothing in the books.
  if (split.receivers.length === 0) return { kind: 'allocated' };
  const left = await splittable(client, split.payment_id, row.amount_minor, row.merchant_fee_minor);
  let total = 0n;
  for (const receiver of split.receivers) total += receiver.amount_minor;
  if (total > left) {
    return { kind: 'refused', code: 'EXCEEDS_SPLITTABLE', message: `${total} ${split.currency} exceeds what is left to split of the payment (${left > 0n ? left : 0n}: paid less fee, refunds and splits)` };
  }
  // Refunds accepted and not yet posted keep their funding: the merchant's cover after the split.
  const moved = { payment_id: split.payment_id, amount_minor: total };
  const cover = await fundingCover(client, { merchant_id: split.merchant_id, currency: split.currency, split: moved });
  const floor = await fundingFloor(client, split.merchant_id);
  if (cover < floor) {
    return { kind: 'refused', code: 'INSUFFICIENT_BALANCE', message: `the merchant's balance, less refunds accepted and not yet posted, cannot cover a split of ${total} ${split.currency}` };
  }
  for (const [index, receiver] of split.receivers.entries()) {
    const member = receiver.member === true;
    await client.query(`INSERT INTO split_receivers (split_id, line_no, payment_id, receiver_id, amount_minor, channel_id, in_flight, member)
                        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, [
      split.split_id, index + 1, split.payment_id, receiver.receiver_id, receiver.amount_minor,
      split.channel_id ?? null, split.channel_id !== undefined, member,
    ]);
    // A member's share: its wallet ('<merchant_id>/<member_id>', core/payouts/wallets.ts), the same owner form.
    const parties = { merchant_id: split.merchant_id, channel_id: '', currency: split.currency, receiver: receiverOwner(split.merchant_id, receiver.receiver_id) };
    const txn_code = member ? 'SPLIT_TO_MEMBER' : 'SPLIT';
    await tx.post({
      entry_key: `split:${split.split_id}:${index + 1}`, txn_code, merchant_id: split.merchant_id, payment_id: split.payment_id, ref_id: split.split_id,
      currency: split.currency, at: split.at, lines: linesOf(txn_code, parties, { gross: receiver.amount_minor }),
    });
  }
  return { kind: 'allocated' };
}

/** The projection's part (LedgerStore.applyMessages, after the payment's row is written): a
 * merchant refund takes the receivers' shares back first, up to its amount, in the order they
 * were split (SPLIT_RETURN); a merchant refund that fails gives them back (SPLIT_RETURN_REVERSED);
 * a payment reversed by reconciliation takes every share back. */
export async function applySplitReturns(tx: PostingTx, state: PaymentState, events: readonly PaymentEvent[]): Promise<void> {
  for (const event of events) {
    if (event.type === 'RefundRequested' && event.kind === 'merchant') await returnShares(tx, state, event.refund_id, event.amount_minor, event.at);
    if (event.type === 'RefundFailed' && state.refunds.some((r) => r.refund_id === event.refund_id && r.kind === 'merchant')) await reverseReturns(tx, state, event.refund_id, event.at);
    // A refund that carried channel shares back inside itself (Alipay refund_royalty_parameters)
    // and failed, or that its channel never got (REQUIRES_MANUAL decided before any call: past
    // the channel's window or count, paid out by other means): the provider returned nothing, so
    // the shares are the receivers' again. A refund REQUIRES_MANUAL after it reached its channel
    // is in doubt (the channel may have made it, shares and all): its shares stay taken back,
    // counted with the refund (not failed) by a split's limit, so neither the receivers' nor
    // split again, until the refund's outcome is known (core/splits/README.md).
    // The order's log has the refund carrying shares: the books hold them taken back for it. A
    // claim given back meanwhile (the orphan sweep read the log before the refund got there, a
    // gateway past every deadline) is taken again, as a retry would.
    if (event.type === 'RefundRequested' && (event.share_returns?.length ?? 0) > 0) await retakeReleased(tx, state, event.refund_id, event.amount_minor, event.at);
    if (event.type === 'RefundFailed' && carriesShares(state, event.refund_id)) await releaseChannelReturns(tx, state, event.refund_id, event.at);
    // (refund_codes_paid_by_payout: the codes of a REQUIRES_MANUAL decided before any call.)
    if (event.type === 'RefundRequiresManual' && refund_codes_paid_by_payout.has(event.code) && carriesShares(state, event.refund_id)) {
      await releaseChannelReturns(tx, state, event.refund_id, event.at);
    }
    // Reconciliation reversed the payment (the channel never took it): every share comes back.
    if (event.type === 'PaymentReversed') await returnShares(tx, state, `reversed:${event.attempt_id}`, state.amount_minor, event.at);
  }
}

async function returnShares(tx: PostingTx, state: PaymentState, refund_id: string, amount_minor: bigint, at: string): Promise<void> {
  const shares = await tx.client.query<{ split_id: string; line_no: number; receiver_id: string; left_minor: bigint; member: boolean }>(
    `SELECT split_id, line_no, receiver_id, (amount_minor - returned_minor)::bigint AS left_minor, member FROM split_receivers
      WHERE payment_id = $1 AND returned_minor < amount_minor AND channel_id IS NULL ORDER BY allocated_at, split_id, line_no FOR UPDATE`,
    [state.payment_id],
  );
  // A member's share can be taken back only as far as its wallet still holds it (the member may
  // have withdrawn or spent it): the wallet's lock, then at most its balance; the merchant pays
  // the rest of the refund (policy: core/splits/README.md, "Shares to member wallets").
  const rows = [];
  const wallets = new Map<string, bigint>();
  for (const share of shares.rows) {
    if (!share.member) {
      rows.push(share);
      continue;
    }
    const owner = receiverOwner(state.merchant_id, share.receiver_id);
    if (!wallets.has(owner)) wallets.set(owner, await walletBalance(tx.client, owner, state.currency));
    const held = wallets.get(owner)!;
    const left = share.left_minor < held ? share.left_minor : held;
    rows.push({ ...share, left_minor: left });
    wallets.set(owner, held - left);
  }
  for (const { share, amount_minor: take } of returnsOf(rows, amount_minor)) {
    const posted = await tx.post(sharePosting('SPLIT_RETURN', state, share, refund_id, take, at));
    if (!posted) continue;
    await tx.client.query('INSERT INTO split_returns (refund_id, split_id, line_no, amount_minor) VALUES ($1, $2, $3, $4)', [refund_id, share.split_id, share.line_no, take]);
    await tx.client.query('UPDATE split_receivers SET returned_minor = returned_minor + $3 WHERE split_id = $1 AND line_no = $2', [share.split_id, share.line_no, take]);
  }
}

/** A member wallet's balance, its account locked (the lock a withdrawal's freeze takes). */
async function walletBalance(client: pg.PoolClient, owner: string, currency: string): Promise<bigint> {
  const wallet = await client.query<{ balance_minor: bigint }>(
    `SELECT balance_minor FROM accounts WHERE code = 'member_wallet' AND owner = $1 AND currency = $2 FOR UPDATE`,
    [owner, currency],
  );
  return wallet.rows[0]?.balance_minor ?? 0n;
}

async function reverseReturns(tx: PostingTx, state: PaymentState, refund_id: string, at: string): Promise<void> {
  const returns = await tx.client.query<{ split_id: string; line_no: number; receiver_id: string; amount_minor: bigint; member: boolean }>(
    `SELECT t.split_id, t.line_no, r.receiver_id, t.amount_minor, r.member FROM split_returns t JOIN split_receivers r USING (split_id, line_no)
      WHERE t.refund_id = $1 AND NOT t.reversed AND r.channel_id IS NULL ORDER BY t.split_id, t.line_no FOR UPDATE`,
    [refund_id],
  );
  for (const back of returns.rows) {
    if (!(await tx.post(sharePosting('SPLIT_RETURN_REVERSED', state, back, refund_id, back.amount_minor, at)))) continue;
    await tx.client.query('UPDATE split_returns SET reversed = true WHERE refund_id = $1 AND split_id = $2 AND line_no = $3', [refund_id, back.split_id, back.line_no]);
    await tx.client.query('UPDATE split_receivers SET returned_minor = returned_minor - $3 WHERE split_id = $1 AND line_no = $2', [back.split_id, back.line_no, back.amount_minor]);
  }
}

/** A return (or its reversal) of one share: a member's share from (to) its wallet. */
function sharePosting(
  kind: 'SPLIT_RETURN' | 'SPLIT_RETURN_REVERSED', state: Pick<PaymentState, 'merchant_id' | 'payment_id' | 'currency'>,
  share: { split_id: string; line_no: number; receiver_id: string; member?: boolean },
  refund_id: string, amount_minor: bigint, at: string, generation = 1,
): Posting {
  const parties = { merchant_id: state.merchant_id, channel_id: '', currency: state.currency, receiver: receiverOwner(state.merchant_id, share.receiver_id) };
  const txn_code = share.member !== true ? kind : kind === 'SPLIT_RETURN' ? 'SPLIT_RETURN_MEMBER' : 'SPLIT_RETURN_MEMBER_REVERSED';
  // A refund's returns planned anew after its claim was given back (planChannelReturns) are
  // keyed apart from the earlier ones: `<refund_id>#<generation>`.
  const key = generation === 1 ? refund_id : `${refund_id}#${generation}`;
  return {
    entry_key: `${kind === 'SPLIT_RETURN' ? 'split-return' : 'split-return-reversed'}:${key}:${share.split_id}:${share.line_no}`,
    txn_code, merchant_id: state.merchant_id, payment_id: state.payment_id, ref_id: refund_id, currency: state.currency, at,
    lines: linesOf(txn_code, parties, { gross: amount_minor }),
  };
}

type PaymentOf = Pick<PaymentState, 'merchant_id' | 'payment_id' | 'currency'>;

/** The provider answered a channel split (core/splits): its shares are no longer in flight, and
 * those of the receivers the provider closed (`received[i]` false, or every one when
 * `received` is 'none') go back to the merchant (SPLIT_RETURN keyed `closed:<split_id>`).
 * Repeatable. */
export async function confirmSplit(tx: PostingTx, split: PaymentOf & { split_id: string; at: string }, received: readonly boolean[] | 'none'): Promise<void> {
  const lines = await tx.client.query<{ split_id: string; line_no: number; receiver_id: string; left_minor: bigint }>(
    `SELECT split_id, line_no, receiver_id, (amount_minor - returned_minor)::bigint AS left_minor FROM split_receivers
      WHERE split_id = $1 AND in_flight ORDER BY line_no FOR UPDATE`,
    [split.split_id],
  );
  const closed_id = `closed:${split.split_id}`;
  for (const line of lines.rows) {
    const kept = received !== 'none' && received[line.line_no - 1] === true;
    if (!kept && line.left_minor > 0n && (await tx.post(sharePosting('SPLIT_RETURN', split, line, closed_id, line.left_minor, split.at)))) {
      await tx.client.query('INSERT INTO split_returns (refund_id, split_id, line_no, amount_minor) VALUES ($1, $2, $3, $4)', [closed_id, line.split_id, line.line_no, line.left_minor]);
      await tx.client.query('UPDATE split_receivers SET returned_minor = returned_minor + $3 WHERE split_id = $1 AND line_no = $2', [line.split_id, line.line_no, line.left_minor]);
    }
    await tx.client.query('UPDATE split_receivers SET in_flight = false WHERE split_id = $1 AND line_no = $2', [line.split_id, line.line_no]);
  }
}

/** One share to take back through the provider before a refund. */
interface ChannelReturn {
  split_id: string;
  line_no: number;
  receiver_id: string;
  amount_minor: bigint;
}

export type ReturnPlan = { kind: 'planned'; returns: ChannelReturn[] } | { kind: 'in_flight'; split_id: string };

/** The receivers' shares first (分账回退) for a refund of a payment split at its channel: under
 * the payment's row lock, the channel shares still with receivers are taken back in the order
 * they were split, up to the refund's amount (SPLIT_RETURN now; the provider is asked next,
 * core/splits). The same refund again answers the returns it already has and renews its claim
 * (claimed_at: the orphan sweep gives back only a claim unchanged since it read the order's
 * log). A refund whose claim was given back (released: the sweep found no refund, or the order
 * actor refused it) plans anew as the claim's next generation: the returns it still holds are
 * kept, the ones given back are taken again where the shares still are. A share the provider is
 * still making (in flight) cannot be returned yet: `in_flight`. */
export async function planChannelReturns(tx: PostingTx, payment: PaymentOf, refund_id: string, amount_minor: bigint, at: string): Promise<ReturnPlan> {
  await tx.client.query('SELECT 1 FROM payments WHERE payment_id = $1 FOR UPDATE', [payment.payment_id]);
  const claim = (await tx.client.query<{ released: boolean; generation: number }>('SELECT released, generation FROM channel_refund_claims WHERE refund_id = $1 FOR UPDATE', [refund_id])).rows[0];
  const done = await tx.client.query<ChannelReturn & { reversed: boolean }>(
    `SELECT t.split_id, t.line_no, r.receiver_id, t.amount_minor, t.reversed FROM split_returns t JOIN split_receivers r USING (split_id, line_no)
      WHERE t.refund_id = $1 AND r.channel_id IS NOT NULL ORDER BY r.allocated_at, t.split_id, t.line_no`,
    [refund_id],
  );
  // Given back: released, or (before claims were kept released) dropped with its returns reversed.
  const given_back = claim?.released === true || (claim === undefined && done.rows.length > 0);
  if (!given_back && done.rows.length > 0) {
    await tx.client.query('UPDATE channel_refund_claims SET claimed_at = now() WHERE refund_id = $1', [refund_id]);
    return { kind: 'planned', returns: done.rows.map(({ reversed: _reversed, ...line }) => line) };
  }
  const generation = given_back ? (claim?.generation ?? 1) + 1 : 1;
  // Counted by a split's limit until the refund itself is in the books (splittable).
  await tx.client.query(
    `INSERT INTO channel_refund_claims (refund_id, payment_id, amount_minor, generation) VALUES ($1, $2, $3, $4)
     ON CONFLICT (refund_id) DO UPDATE SET claimed_at = now(), released = false, generation = EXCLUDED.generation, amount_minor = EXCLUDED.amount_minor`,
    [refund_id, payment.payment_id, amount_minor, generation],
  );
  const kept = done.rows.filter((line) => !line.reversed).map(({ reversed: _reversed, ...line }) => line);
  if (given_back) await tx.client.query('DELETE FROM split_returns WHERE refund_id = $1 AND reversed', [refund_id]);
  const shares = await tx.client.query<{ split_id: string; line_no: number; receiver_id: string; left_minor: bigint; in_flight: boolean }>(
    `SELECT split_id, line_no, receiver_id, (amount_minor - returned_minor)::bigint AS left_minor, in_flight FROM split_receivers
      WHERE payment_id = $1 AND channel_id IS NOT NULL AND (in_flight OR returned_minor < amount_minor) ORDER BY allocated_at, split_id, line_no FOR UPDATE`,
    [payment.payment_id],
  );
  const flying = shares.rows.find((share) => share.in_flight);
  if (flying !== undefined) return { kind: 'in_flight', split_id: flying.split_id };
  let need = amount_minor;
  for (const line of kept) need -= line.amount_minor;
  const open = shares.rows.filter((share) => !kept.some((line) => line.split_id === share.split_id && line.line_no === share.line_no));
  const returns: ChannelReturn[] = [...kept];
  for (const { share, amount_minor: take } of returnsOf(open, need > 0n ? need : 0n)) {
    if (!(await tx.post(sharePosting('SPLIT_RETURN', payment, share, refund_id, take, at, generation)))) continue;
    await tx.client.query('INSERT INTO split_returns (refund_id, split_id, line_no, amount_minor, generation) VALUES ($1, $2, $3, $4, $5)', [refund_id, share.split_id, share.line_no, take, generation]);
    await tx.client.query('UPDATE split_receivers SET returned_minor = returned_minor + $3 WHERE split_id = $1 AND line_no = $2', [share.split_id, share.line_no, take]);
    returns.push({ split_id: share.split_id, line_no: share.line_no, receiver_id: share.receiver_id, amount_minor: take });
  }
  return { kind: 'planned', returns };
}

async function retakeReleased(tx: PostingTx, state: PaymentState, refund_id: string, amount_minor: bigint, at: string): Promise<void> {
  const claim = await tx.client.query<{ released: boolean }>('SELECT released FROM channel_refund_claims WHERE refund_id = $1', [refund_id]);
  if (claim.rows[0]?.released !== true) return;
  await planChannelReturns(tx, state, refund_id, amount_minor, at);
}

function carriesShares(state: PaymentState, refund_id: string): boolean {
  return (state.refunds.find((r) => r.refund_id === refund_id)?.share_returns?.length ?? 0) > 0;
}

/** The channel shares taken back for a refund that carries them (planChannelReturns) go back to
 * their receivers (SPLIT_RETURN_REVERSED): the refund failed, will not be carried by its channel,
 * or was never created (its claim dropped too). Repeatable. */
export async function releaseChannelReturns(tx: PostingTx, payment: PaymentOf, refund_id: string, at: string): Promise<void> {
  const taken = await tx.client.query<{ split_id: string; line_no: number }>(
    `SELECT t.split_id, t.line_no FROM split_returns t JOIN split_receivers r USING (split_id, line_no)
      WHERE t.refund_id = $1 AND r.payment_id = $2 AND r.channel_id IS NOT NULL AND NOT t.reversed ORDER BY t.split_id, t.line_no`,
    [refund_id, payment.payment_id],
  );
  for (const line of taken.rows) await reverseChannelReturn(tx, payment, refund_id, line.split_id, line.line_no, at);
  await tx.client.query('UPDATE channel_refund_claims c SET released = true WHERE c.refund_id = $1 AND c.payment_id = $2 AND NOT EXISTS (SELECT 1 FROM refunds f WHERE f.refund_id = c.refund_id)', [refund_id, payment.payment_id]);
}

/** The provider refused a return (core/splits): the share is the receiver's again in the books
 * too (SPLIT_RETURN_REVERSED). Repeatable. */
export async function reverseChannelReturn(tx: PostingTx, payment: PaymentOf, refund_id: string, split_id: string, line_no: number, at: string): Promise<void> {
  const found = await tx.client.query<{ split_id: string; line_no: number; receiver_id: string; amount_minor: bigint; generation: number }>(
    `SELECT t.split_id, t.line_no, r.receiver_id, t.amount_minor, t.generation FROM split_returns t JOIN split_receivers r USING (split_id, line_no)
      WHERE t.refund_id = $1 AND t.split_id = $2 AND t.line_no = $3 AND NOT t.reversed FOR UPDATE`,
    [refund_id, split_id, line_no],
  );
  const back = found.rows[0];
  if (back === undefined || !(await tx.post(sharePosting('SPLIT_RETURN_REVERSED', payment, back, refund_id, back.amount_minor, at, back.generation)))) return;
  await tx.client.query('UPDATE split_returns SET reversed = true WHERE refund_id = $1 AND split_id = $2 AND line_no = $3', [refund_id, split_id, line_no]);
  await tx.client.query('UPDATE split_receivers SET returned_minor = returned_minor - $3 WHERE split_id = $1 AND line_no = $2', [split_id, line_no, back.amount_minor]);
}

/** A claim whose refund is not in the books, claimed longer ago than the orphan bound, with the
 * returns it holds (core/splits orphan sweep). claimed_at is PostgreSQL's text of it, compared
 * exactly when the claim is given back. */
export interface OrphanClaim {
  refund_id: string;
  payment_id: string;
  claimed_at: string;
  generation: number;
  returns: { split_id: string; line_no: number }[];
}

/** The claims not given back, of no refund in the books, last claimed more than after_ms ago. */
export async function orphanClaims(client: pg.PoolClient | pg.Pool, after_ms: number, limit: number): Promise<OrphanClaim[]> {
  const claims = await client.query<Omit<OrphanClaim, 'returns'>>(
    `SELECT c.refund_id, c.payment_id, c.claimed_at::text AS claimed_at, c.generation FROM channel_refund_claims c
      WHERE NOT c.released AND c.claimed_at <= now() - make_interval(secs => $1::double precision / 1000)
        AND NOT EXISTS (SELECT 1 FROM refunds f WHERE f.refund_id = c.refund_id)
      ORDER BY c.claimed_at LIMIT $2`,
    [after_ms, limit],
  );
  const out: OrphanClaim[] = [];
  for (const claim of claims.rows) {
    const returns = await client.query<{ split_id: string; line_no: number }>(
      'SELECT split_id, line_no FROM split_returns WHERE refund_id = $1 AND NOT reversed ORDER BY split_id, line_no', [claim.refund_id],
    );
    out.push({ ...claim, returns: returns.rows });
  }
  return out;
}

/** Gives back a claim whose refund the order's log does not have (the orphan sweep): under the
 * payment's row lock, and only when the claim is as the sweep read it (not released, not
 * renewed by a retry since, its refund still not in the books), the returns named go back to
 * their receivers (SPLIT_RETURN_REVERSED: never made at the channel) and the claim is released.
 * False when the claim changed meanwhile (nothing done). */
export async function releaseOrphanClaim(tx: PostingTx, payment: PaymentOf, claim: Pick<OrphanClaim, 'refund_id' | 'claimed_at' | 'generation'>, give_back: readonly { split_id: string; line_no: number }[], at: string): Promise<boolean> {
  await tx.client.query('SELECT 1 FROM payments WHERE payment_id = $1 FOR UPDATE', [payment.payment_id]);
  const same = await tx.client.query(
    `SELECT 1 FROM channel_refund_claims c WHERE c.refund_id = $1 AND c.payment_id = $2 AND NOT c.released AND c.claimed_at::text = $3 AND c.generation = $4
        AND NOT EXISTS (SELECT 1 FROM refunds f WHERE f.refund_id = c.refund_id) FOR UPDATE`,
    [claim.refund_id, payment.payment_id, claim.claimed_at, claim.generation],
  );
  if (same.rows.length === 0) return false;
  for (const line of give_back) await reverseChannelReturn(tx, payment, claim.refund_id, line.split_id, line.line_no, at);
  await tx.client.query('UPDATE channel_refund_claims SET released = true WHERE refund_id = $1', [claim.refund_id]);
  return true;
}
