// The routing configuration cached in every process, and its sync: each instance reloads on
// the change message (`<prefix>:rt:changed`), and polls the version as a fallback for messages
// lost across a reconnect. A Redis without its configuration (restarted empty) is rebuilt
// from the durable store first (config-sync.ts). Writers — routing admin, merchants, apps,
// risk rules — change the configuration through commit(), which writes through and reloads.

import { subscriberOf, type RedisClient } from '../connections';
import { dependencyFailure, PaycoreError } from '../errors';
import type { Sealer } from '../seal';
import { ConfigWrites, type ConfigSnapshot } from './config-store';
import type { ConfigSync } from './config-sync';
import { redis_down_states, type RoutingKeys } from './keys';
import { empty_snapshot, loadSnapshot, type ConfigSnapshotInMemory } from './snapshot';
import type { RoutingChannel } from './types';

export interface RoutingCacheOptions {
  sealer: Sealer;
  /** Writes through to the durable store and rebuilds an emptied Redis from it. */
  sync: ConfigSync;
  version_poll_ms: number;
  /** Called when a background reload fails (the previous cache stays in use). */
  on_error: (error: unknown) => void;
}

export class RoutingCache {
  readonly #options: RoutingCacheOptions;
  /** Redis was seen without its configuration and the rebuild has not succeeded yet. */
  #lost = false;
  #current: ConfigSnapshotInMemory = empty_snapshot;
  #subscriber: RedisClient | undefined;
  #poll: NodeJS.Timeout | undefined;
  #reloading: Promise<void> | undefined;
  #reload_again = false;

  constructor(
    /** Readers of single configuration fields (existence checks, the notify secret) use it. */
    readonly redis: RedisClient,
    readonly keys: RoutingKeys,
    options: RoutingCacheOptions,
  ) {
    this.#options = options;
  }

  async start(): Promise<void> {
    await this.#options.sync.seedStore();
    await this.reload();
    // Its own connection (a subscriber can do nothing else), queueing until connected.
    const subscriber = subscriberOf(this.redis);
    this.#subscriber = subscriber;
    subscriber.on('error', (error) => this.#options.on_error(error));
    subscriber.on('message', () => void this.#reloadSoon());
    await subscriber.subscribe(this.keys.changes_channel);
    // A message published while we subscribed would be lost: read once more.
    await this.reload();
    this.#poll = setInterval(() => void this.#pollVersion(), this.#options.version_poll_ms);
    this.#poll.unref();
  }

  async stop(): Promise<void> {
    if (this.#poll !== undefined) clearInterval(this.#poll);
    this.#poll = undefined;
    const subscriber = this.#subscriber;
    this.#subscriber = undefined;
    if (subscriber !== undefined) {
      subscriber.disconnect();
    }
    await this.#reloading?.catch(() => undefined);
  }

  /** The cached configuration's version (tests and health checks). */
  get version(): string {
    return this.#current.version ?? '0';
  }

  /** Whether this instance can route now: it holds a configuration with channels, and Redis
   * has not been seen without its configuration since (health says NOT_SERVING otherwise). */
  get routable(): boolean {
    return !this.#lost && this.#current.channels.length > 0 && !redis_down_states.has(this.redis.status);
  }

  /** The configuration now; replaced whole on every reload, never changed in place. */
  get current(): ConfigSnapshotInMemory {
    return this.#current;
  }

  getChannel(channel_id: string): RoutingChannel {
    const channel = this.#current.by_id.get(channel_id);
    if (channel === undefined) throw new PaycoreError('NOT_FOUND', `no channel ${channel_id}`);
    return channel;
  }

  listChannels(): RoutingChannel[] {
    return [...this.#current.channels];
  }

  async #pollVersion(): Promise<void> {
    try {
      const version = (await this.redis.get(`${this.keys.config}:version`)) ?? '0';
      if (version !== this.version) await this.#reloadSoon();
    } catch (error) {
      this.#options.on_error(error);
    }
  }

  /** Coalesces reloads: one in flight, at most one more queued behind it. */
  #reloadSoon(): Promise<void> {
    if (this.#reloading !== undefined) {
      this.#reload_again = true;
      return this.#reloading;
    }
    this.#reloading = (async () => {
      try {
        do {
          this.#reload_again = false;
          await this.reload();
        } while (this.#reload_again);
      } catch (error) {
        this.#options.on_error(error);
      } finally {
        this.#reloading = undefined;
      }
    })();
    return this.#reloading;
  }

  /** Reads the whole configuration in one MULTI and swaps the cache. A Redis without its
   * configuration (restarted empty) is first rebuilt from the durable store. */
  async reload(): Promise<void> {
    const { sync, sealer } = this.#options;
    if (sync.store !== undefined && (await this.redis.exists(`${this.keys.config}:version`)) === 0) {
      this.#lost = true;
      await sync.rebuild();
    }
    const loaded = await loadSnapshot(this.redis, this.keys.config, sealer);
    this.#current = loaded;
    if (sync.store === undefined || loaded.version !== null) this.#lost = false;
  }

  /** Records one configuration change (full `{<prefix>:rt}:<hash>` keys, as ConfigWrites
   * takes them), writes it through and reloads. Failures are DEPENDENCY_DOWN. */
  async commit(write: (m: ConfigWrites) => void, current?: ConfigSnapshot): Promise<void> {
    const m = new ConfigWrites(this.keys.config);
    write(m);
    try {
      await this.#options.sync.write(m.ops, current);
      await this.reload();
    } catch (error) {
      throw dependencyFailure(error, 'Redis');
    }
  }
}
