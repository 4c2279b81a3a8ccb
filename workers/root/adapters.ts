// The channel adapters of a thread, created from the channel file's entries (core/config.ts)
// and closed by the composition root that created them. Only the root picks adapters; the rest
// of core sees channels/channel.ts.

import { createChannel, type Channel, type ProductName } from '../../channels';
import type { ChannelEntry, ChannelProduct } from '../../core/config';
import type { Logger } from '../../core/log';
import type { Routing } from '../../core/routing/routing';

// The configuration lists the products below the channels layer; the interface's ProductName
// and that list must name the same products, or this does not compile.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _products_agree: Same<ProductName, ChannelProduct> = true;

/** channel_id → its adapter, one per entry of the channel file. */
export function createAdapters(entries: readonly ChannelEntry[]): Map<string, Channel> {
  return new Map(entries.map((entry) => [entry.channel_id, createChannel(entry)]));
}

/** At a thread's stop, after its last channel call: routing's health counts flushed to the
 * fleet's window (a failed flush is logged, not retried), then every adapter's connections. */
export async function closeAdapters(adapters: ReadonlyMap<string, Channel>, health: Routing['health'], log: Logger): Promise<void> {
  await health.stop().catch((error: Error) => log.warn({ err: error.message }, 'health flush at close failed'));
  await Promise.all([...adapters.values()].map((adapter) => adapter.close_connections()));
}
