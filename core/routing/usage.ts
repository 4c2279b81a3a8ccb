// Caps usage after Redis lost it (a restart: Redis keeps nothing on disk). The day and month
// counters of every capped channel are re-derived from the event log, conservatively: every
// attempt requested on the channel this day / this month counts, including those released
// since (failed, closed), so a cap can only be reached early, never exceeded. Per-card caps are
// not re-derived (their key is a digest of the sealed card token): they restart from zero.
//
// Run once per loss, by the instance whose rebuild of the configuration won (RoutingTable
// on_rebuilt), in the background: until it finishes, the counters hold only what was reserved
// since the restart.

import { DeliverPolicy, type JetStreamClient } from '@nats-io/jetstream';
import { decodeJson } from '../codec';
import type { Names } from '../names';
import { stored_message_schema } from '../orders/schemas';
import { eventsOf, type StoredMessage } from '../orders/store';
import type { RoutingTable } from './table';
import { localTime } from './windows';

/** How far back the scan starts: a month and a day (the month's first day in any time zone). */
const usage_scan_ms = 32 * 86_400_000;
/** Messages per pull of the scan. */
const usage_scan_batch_max = 1_000;

const usage_caps = ['day_amount_minor', 'day_count', 'month_amount_minor', 'month_count'] as const;

export interface UsageTotals {
  day: { amount_minor: bigint; count: number };
  month: { amount_minor: bigint; count: number };
}

/** Re-derives and adds the day and month usage of every capped channel. Returns what it added. */
export async function rederiveUsage(js: JetStreamClient, names: Names, table: RoutingTable, now = new Date()): Promise<Map<string, UsageTotals>> {
  const capped = new Set(table.listChannels().filter((c) => usage_caps.some((cap) => c.limits[cap] !== undefined)).map((c) => c.channel_id));
  const totals = new Map<string, UsageTotals>();
  if (capped.size === 0) return totals;
  const today = localTime(now, table.limits_time_zone);
  const consumer = await js.consumers.get(names.events_stream, { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(now.getTime() - usage_scan_ms).toISOString() });
  if ((await consumer.info(true)).num_pending === 0) return totals;
  const messages = await consumer.consume({ max_messages: usage_scan_batch_max });
  for await (const message of messages) {
    const stored = decodeJson<StoredMessage>(message.data, stored_message_schema);
    for (const event of eventsOf(stored)) {
      if (event.type !== 'ChannelRequested' || !capped.has(event.channel_id)) continue;
      const at = localTime(new Date(event.at), table.limits_time_zone);
      if (at.month !== today.month) continue;
      let t = totals.get(event.channel_id);
      if (t === undefined) totals.set(event.channel_id, (t = { day: { amount_minor: 0n, count: 0 }, month: { amount_minor: 0n, count: 0 } }));
      t.month.amount_minor += stored.state.amount_minor;
      t.month.count += 1;
      if (at.day === today.day) {
        t.day.amount_minor += stored.state.amount_minor;
        t.day.count += 1;
      }
    }
    if (message.info.pending === 0) break;
  }
  messages.stop();
  for (const [channel_id, t] of totals) await table.addUsage(channel_id, today.day, today.month, t);
  return totals;
}
