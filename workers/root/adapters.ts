// The channel adapters of a thread, created from the channel file's entries (core/config.ts).
// Only the composition root picks adapters; the rest of core sees channels/channel.ts.

import { createChannel, type Channel, type ProductName } from '../../channels';
import type { ChannelEntry, ChannelProduct } from '../../core/config';

// The configuration lists the products below the channels layer; the interface's ProductName
// and that list must name the same products, or this does not compile.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _products_agree: Same<ProductName, ChannelProduct> = true;

/** channel_id → its adapter, one per entry of the channel file. */
export function createAdapters(entries: readonly ChannelEntry[]): Map<string, Channel> {
  return new Map(entries.map((entry) => [entry.channel_id, createChannel(entry)]));
}
