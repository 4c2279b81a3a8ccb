// Caps usage after Redis lost it (a restart: Redis keeps nothing on disk). The day and month
// counters of every capped channel are re-derived from the event log, conservatively: every
// attempt requested on the channel this day / this month counts, including those released
// since (failed, closed), so a cap can only be reached early, never exceeded. Per-card caps
// likewise, for channels that have them: the card token is opened from the payment's sealed
// payer elements (the data key is in every paycore process) and digested as the reservation script
// keys it; nothing of the card leaves this function.
//
// Run once per loss, by the instance whose rebuild of the configuration won (RoutingOptions
// on_rebuilt), in the background: until it finishes, the counters hold only what was reserved
// since the restart.

import { DeliverPolicy, type JetStreamClient } from '@nats-io/jetstream';
import { decodeJson } from '../codec';
import type { Names } from '../names';
import { eventsOf, stored_message_schema, type StoredMessage } from '../events/stored';
import type { PayerElements } from '../../channels/channel';
import { cardDigest } from './decision';
import type { Routing } from './routing';
import { localTime } from './windows';

/** How far back the scan starts: a month and a day (the month's first day in any time zone). */
const usage_scan_ms = 32 * 86_400_000;
/** Messages per pull of the scan. */
const usage_scan_batch_max = 1_000;

const usage_caps = ['day_amount_minor', 'day_count', 'month_amount_minor', 'month_count'] as const;
const card_caps = ['card_day_amount_minor', 'card_day_count', 'card_month_amount_minor', 'card_month_count'] as const;

interface UsageTotals {
  day: { amount_minor: bigint; count: number };
  month: { amount_minor: bigint; count: number };
}

/** Opens a payment's sealed payer elements (a Sealer's open). */
export type OpenPayer = (payer_sealed: string) => PayerElements;

export interface RederivedUsage {
  /** Per channel. */
  channels: Map<string, UsageTotals>;
  /** Per `<channel_id>/<card digest>`. */
  cards: Map<string, UsageTotals>;
}

/** Re-derives and adds the day and month usage of every capped channel, and of every card on
 * channels with per-card caps. Returns what it added. */
export async function rederiveUsage(js: JetStreamClient, names: Names, routing: Pick<Routing, 'cache' | 'decisions' | 'reservations'>, open_payer: OpenPayer, now = new Date()): Promise<RederivedUsage> {
  const channels = routing.cache.listChannels();
  const time_zone = routing.decisions.limits_time_zone;
  const capped = new Set(channels.filter((c) => usage_caps.some((cap) => c.limits[cap] !== undefined)).map((c) => c.channel_id));
  const card_capped = new Set(channels.filter((c) => card_caps.some((cap) => c.limits[cap] !== undefined)).map((c) => c.channel_id));
  const totals = new Map<string, UsageTotals>();
  const cards = new Map<string, UsageTotals>();
  const rederived = { channels: totals, cards };
  if (capped.size === 0 && card_capped.size === 0) return rederived;
  const today = localTime(now, time_zone);
  const consumer = await js.consumers.get(names.events_stream, {
    deliver_policy: DeliverPolicy.StartTime,
    opt_start_time: new Date(now.getTime() - usage_scan_ms).toISOString(),
  });
  if ((await consumer.info(true)).num_pending === 0) return rederived;
  const messages = await consumer.consume({ max_messages: usage_scan_batch_max });
  for await (const message of messages) {
    const stored = decodeJson<StoredMessage>(message.data, stored_message_schema);
    for (const event of eventsOf(stored)) {
      if (event.type !== 'ChannelRequested') continue;
      const on_channel = capped.has(event.channel_id);
      const on_card = card_capped.has(event.channel_id);
      if (!on_channel && !on_card) continue;
      const at = localTime(new Date(event.at), time_zone);
      if (at.month !== today.month) continue;
      const is_today = at.day === today.day;
      if (on_channel) count(totals, event.channel_id, stored.state.amount_minor, is_today);
      const card_token = on_card ? open_payer(stored.state.payer_sealed).card_token : undefined;
      if (card_token !== undefined && card_token !== '') count(cards, `${event.channel_id}/${cardDigest(card_token)}`, stored.state.amount_minor, is_today);
    }
    if (message.info.pending === 0) break;
  }
  messages.stop();
  for (const [channel_id, t] of totals) await routing.reservations.addUsage(channel_id, today.day, today.month, t);
  for (const [key, t] of cards) {
    const [channel_id, card_digest] = key.split('/') as [string, string];
    await routing.reservations.addUsage(channel_id, today.day, today.month, t, card_digest);
  }
  return rederived;
}

function count(into: Map<string, UsageTotals>, key: string, amount_minor: bigint, is_today: boolean): void {
  let t = into.get(key);
  if (t === undefined) into.set(key, (t = { day: { amount_minor: 0n, count: 0 }, month: { amount_minor: 0n, count: 0 } }));
  t.month.amount_minor += amount_minor;
  t.month.count += 1;
  if (is_today) {
    t.day.amount_minor += amount_minor;
    t.day.count += 1;
  }
}
