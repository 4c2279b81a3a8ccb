// The automatic actions on a day's differences, through the orders module's own commands (never
// by writing events):
//   长款 (CHANNEL_ONLY) and STATUS_MISMATCH of an attempt of ours — query the channel; if it
//     says paid, hand its answer to the payment's actor as a verified notification, the path a
//     callback takes: the actor applies it (补单), or, when the payment is paid already by
//     another attempt or closed, records a duplicate and refunds it;
//   PAID_TWICE — the statement (checked against the digest of the provider's signed answer)
//     names a second transaction the query does not return (it answers the first): hand that
//     one to the actor, which records the duplicate and refunds it.
//   短款 (OURS_ONLY) of a payment of ours — query the channel; if it says the trade does not
//     exist, was closed or failed (it never took the money), send the orders module's
//     `reverse` command (reason RECON_NOT_AT_CHANNEL, reference the difference's key): the
//     payment becomes REVERSED and the books post PAYMENT_REVERSED. If it says paid, the
//     channel has it and no statement listed it: reclassified UNLISTED for an operator.
// An order number that is no payment of ours, or a query that does not say paid (for 长款) or
// says pending (for 短款), stays open for an operator with the reason in the trail. Each
// difference is acted on once (an 'act' event in its trail). Re-run safe: a crash between the
// reversal and its trail event acts again on the next run, and the orders module takes the
// same reversal (same reference) as done, appending nothing.

import type { AttemptStatus, Channel } from '../../channels/channel';
import { paymentIdOfAttempt } from '../ids';
import type { OrdersClient } from '../orders/api';
import { toWireStatus } from '../orders/protocol';
import type { PaymentState } from '../orders/types';
import type { DifferenceAction, ReconStore, StoredDifference } from './store';
import type { DifferenceClass } from './types';

export interface ActDeps {
  orders: Pick<OrdersClient, 'send' | 'get'>;
}

const actor = 'recon:act';
/** The reason code a 短款 reversal carries (PaymentReversed.reason_code). */
const reverse_reason_code = 'RECON_NOT_AT_CHANNEL';

interface Outcome {
  resolved: boolean;
  note: string;
  reclass?: { class: DifferenceClass; action: DifferenceAction };
}

export async function actOnDay(deps: ActDeps, store: ReconStore, channel: Channel, date: string): Promise<number> {
  const open = await store.pool.query<StoredDifference>(
    `SELECT d.* FROM recon_differences d WHERE d.channel_id = $1 AND d.business_date = $2 AND d.state = 'open' AND d.action IN ('apply', 'refund_duplicate', 'reverse')
       AND NOT EXISTS (SELECT 1 FROM recon_difference_events e WHERE e.difference_id = d.difference_id AND e.actor = $3)`,
    [channel.channel_id, date, actor],
  );
  for (const difference of open.rows) {
    const outcome: Outcome = await actOn(deps, channel, difference).catch((error: unknown) => ({ resolved: false, note: `the action failed: ${String(error).slice(0, 300)}` }));
    await store.record(difference.difference_id, actor, outcome.resolved ? 'resolved' : 'open', outcome.note, outcome.reclass);
  }
  return open.rows.length;
}

async function actOn(deps: ActDeps, channel: Channel, difference: StoredDifference): Promise<Outcome> {
  const payment_id = paymentIdOfAttempt(difference.grp);
  const loaded = payment_id === undefined ? undefined : await deps.orders.get(payment_id);
  if (payment_id === undefined || loaded === undefined) return { resolved: false, note: `no payment of ours has order number ${difference.grp}: an operator must look` };
  const state = loaded.state;
  const attempt = state.attempts.find((a) => a.attempt_id === difference.grp);
  if (attempt === undefined || attempt.channel_id !== channel.channel_id) return { resolved: false, note: `payment ${payment_id} sent no attempt ${difference.grp} to ${channel.channel_id}: an operator must look` };
  if (difference.class === 'PAID_TWICE') {
    const row = difference.detail.channel[0]!;
    const after = await deps.orders.send({
      type: 'notification', payment_id, channel_id: channel.channel_id, attempt_id: attempt.attempt_id,
      status: { kind: 'succeeded', channel_trade_no: row.trade_no, amount_minor: BigInt(row.amount_minor), paid_at: `${difference.business_date}T12:00:00+08:00` },
    });
    const refund = after.refunds.find((r) => r.kind === 'duplicate' && r.channel_trade_no === row.trade_no);
    if (refund === undefined) return { resolved: false, note: `second payment ${row.trade_no} handed to the orders module; no duplicate refund followed: an operator must look` };
    return { resolved: true, note: `second payment ${row.trade_no} refunded as a duplicate by the orders module (refund ${refund.refund_id}, ${refund.state})` };
  }
  const status = await queryAttempt(channel, state, attempt);
  if (difference.class === 'OURS_ONLY') return reverseShort(deps, difference, state, attempt, status);
  if (status.kind !== 'succeeded') return { resolved: false, note: `the channel's query answers ${status.kind} for ${attempt.attempt_id}: an operator must look` };
  const after = await deps.orders.send({ type: 'notification', payment_id, channel_id: channel.channel_id, attempt_id: attempt.attempt_id, status: toWireStatus(status) });
  const applied = after.attempts.find((a) => a.attempt_id === attempt.attempt_id)?.state === 'succeeded' || after.duplicates.some((d) => d.channel_trade_no === status.channel_trade_no);
  if (!applied) return { resolved: false, note: `the channel says ${attempt.attempt_id} is paid (${status.channel_trade_no}); the orders module did not take it: an operator must look` };
  return { resolved: true, note: `补单: the channel's query says paid (${status.channel_trade_no}); applied through the orders module (payment ${after.status})` };
}

function queryAttempt(channel: Channel, state: PaymentState, attempt: PaymentState['attempts'][number]): Promise<AttemptStatus> {
  return channel.query({
    attempt_id: attempt.attempt_id, payment_id: state.payment_id, product: state.product, amount_minor: state.amount_minor, currency: state.currency,
    requested_at: attempt.requested_at === undefined ? undefined : new Date(attempt.requested_at),
  });
}

/** 短款: our paid payment on no statement within the pool's days. The channel's query decides:
 * never taken (not found, closed, failed) → reversed through the orders module; paid → the
 * channel has it (UNLISTED, an operator's); anything else → left open. */
async function reverseShort(deps: ActDeps, difference: StoredDifference, state: PaymentState, attempt: PaymentState['attempts'][number], status: AttemptStatus): Promise<Outcome> {
  if (difference.kind !== 'payment' || attempt.attempt_id !== state.winning_attempt_id) {
    return { resolved: false, note: `a ${difference.kind} of ours on no statement (${attempt.attempt_id}), not the payment's own success: an operator must look` };
  }
  if (status.kind === 'succeeded') {
    return {
      resolved: false, reclass: { class: 'UNLISTED', action: 'investigate' },
      note: `the channel's query says ${attempt.attempt_id} is paid (${status.channel_trade_no}), yet no statement within the pool's days lists it: a cut-off past the pool or an omission in the statement; an operator must look`,
    };
  }
  if (status.kind !== 'not_found' && status.kind !== 'closed' && status.kind !== 'failed') {
    return { resolved: false, note: `the channel's query answers ${status.kind} for ${attempt.attempt_id}: not proof it never took it; an operator must look` };
  }
  const after = await deps.orders.send({ type: 'reverse', payment_id: state.payment_id, reason_code: reverse_reason_code, reference: difference.difference_key });
  if (after.status !== 'REVERSED' || after.reversal?.reference !== difference.difference_key) {
    return { resolved: false, note: `the channel never took ${attempt.attempt_id} (query: ${status.kind}); the orders module left payment ${state.payment_id} ${after.status}: an operator must look` };
  }
  return {
    resolved: true,
    note: `短款 reversed: the channel's query answers ${status.kind} for ${attempt.attempt_id}; the orders module reversed payment ${state.payment_id} (PaymentReversed, ${reverse_reason_code}) and the books post PAYMENT_REVERSED`,
  };
}
