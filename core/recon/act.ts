// The automatic actions on a day's differences, through the orders module's own commands (never
// by writing events):
//   长款 (CHANNEL_ONLY) and STATUS_MISMATCH of an attempt of ours — query the channel; if it
//     says paid, hand its answer to the payment's actor as a verified notification, the path a
//     callback takes: the actor applies it (补单), or, when the payment is paid already by
//     another attempt or closed, records a duplicate and refunds it;
//   PAID_TWICE — the statement (checked against the digest of the provider's signed answer)
//     names a second transaction the query does not return (it answers the first): hand that
//     one to the actor, which records the duplicate and refunds it.
// An order number that is no payment of ours, or a query that does not say paid, stays open
// for an operator with the reason in the trail. 短款 (OURS_ONLY) stays with an operator too:
// no command of the orders module reverses a paid payment. Each difference is acted on once
// (an 'act' event in its trail).

import type { Channel } from '../../channels/channel';
import { paymentIdOfAttempt } from '../ids';
import type { OrdersClient } from '../orders/api';
import { toWireStatus } from '../orders/protocol';
import type { ReconStore, StoredDifference } from './store';

export interface ActDeps {
  orders: Pick<OrdersClient, 'send' | 'get'>;
}

const actor = 'recon:act';

export async function actOnDay(deps: ActDeps, store: ReconStore, channel: Channel, date: string): Promise<number> {
  const open = await store.pool.query<StoredDifference>(
    `SELECT d.* FROM recon_differences d WHERE d.channel_id = $1 AND d.business_date = $2 AND d.state = 'open' AND d.action IN ('apply', 'refund_duplicate')
       AND NOT EXISTS (SELECT 1 FROM recon_difference_events e WHERE e.difference_id = d.difference_id AND e.actor = $3)`,
    [channel.channel_id, date, actor],
  );
  for (const difference of open.rows) {
    const outcome = await actOn(deps, channel, difference).catch((error: unknown) => ({ resolved: false, note: `the action failed: ${String(error).slice(0, 300)}` }));
    await store.record(difference.difference_id, actor, outcome.resolved ? 'resolved' : 'open', outcome.note);
  }
  return open.rows.length;
}

async function actOn(deps: ActDeps, channel: Channel, difference: StoredDifference): Promise<{ resolved: boolean; note: string }> {
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
  const status = await channel.query({
    attempt_id: attempt.attempt_id, payment_id, product: state.product, amount_minor: state.amount_minor, currency: state.currency,
    requested_at: attempt.requested_at === undefined ? undefined : new Date(attempt.requested_at),
  });
  if (status.kind !== 'succeeded') return { resolved: false, note: `the channel's query answers ${status.kind} for ${attempt.attempt_id}: an operator must look` };
  const after = await deps.orders.send({ type: 'notification', payment_id, channel_id: channel.channel_id, attempt_id: attempt.attempt_id, status: toWireStatus(status) });
  const applied = after.attempts.find((a) => a.attempt_id === attempt.attempt_id)?.state === 'succeeded' || after.duplicates.some((d) => d.channel_trade_no === status.channel_trade_no);
  if (!applied) return { resolved: false, note: `the channel says ${attempt.attempt_id} is paid (${status.channel_trade_no}); the orders module did not take it: an operator must look` };
  return { resolved: true, note: `补单: the channel's query says paid (${status.channel_trade_no}); applied through the orders module (payment ${after.status})` };
}
