// Until the Redis routing table lands, a product's channel comes from configuration: the
// first configured channel that serves the product and passes the order's route hints.

import { createChannel, type Channel, type ChannelConfig } from '../../channels';
import type { ChannelDirectory } from '../orders/actor';

export class StaticRouting implements ChannelDirectory {
  readonly #channels = new Map<string, Channel>();

  constructor(
    private readonly configs: readonly ChannelConfig[],
    private readonly public_url: string,
  ) {
    for (const config of configs) this.#channels.set(config.channel_id, createChannel(config));
  }

  get(channel_id: string): Channel | undefined {
    return this.#channels.get(channel_id);
  }

  route(input: { product: ChannelConfig['products'][number]; include_channels: string[]; exclude_channels: string[] }): string | undefined {
    const candidate = this.configs.find(
      (c) =>
        c.products.includes(input.product) &&
        !input.exclude_channels.includes(c.channel_id) &&
        (input.include_channels.length === 0 || input.include_channels.includes(c.channel_id)),
    );
    return candidate?.channel_id;
  }

  notifyUrl(channel_id: string): string {
    return `${this.public_url}/notify/${channel_id}`;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#channels.values()].map((c) => c.close_connections()));
  }
}
