// Where routing keeps its state in Redis, and the scripts it runs there (lua.ts).
//
// Configuration lives in one hash slot (`{<prefix>:rt}`) so that applying a whole file is a
// single MULTI even on Redis Cluster; the hot-path keys (health, circuit, usage, reservations)
// are hash-tagged per channel (`{<prefix>:ch:<id>}`). Every change bumps `{<prefix>:rt}:version`
// and is published on `<prefix>:rt:changed`.

import type { RedisClient } from '../connections';
import { assert, dependencyDown, dependencyFailure } from '../errors';
import { commit_script, config_apply_script, config_rebuild_script, release_script } from './lua';

export type RoutingRedis = RedisClient & {
  paycoreRelease(key: string, reservation_id: string): Promise<number>;
  paycoreCommit(key: string, reservation_id: string): Promise<number>;
  paycoreConfigApply(keys_count: number, ...args: (string | number)[]): Promise<number>;
  paycoreConfigRebuild(keys_count: number, ...args: (string | number)[]): Promise<number>;
};

/** The connection with routing's scripts defined on it (once per connection). */
export function routingRedis(redis: RedisClient): RoutingRedis {
  const r = redis as RoutingRedis;
  if (typeof r.paycoreRelease !== 'function') {
    r.defineCommand('paycoreRelease', { lua: release_script, numberOfKeys: 1 });
    r.defineCommand('paycoreCommit', { lua: commit_script, numberOfKeys: 1 });
    r.defineCommand('paycoreConfigApply', { lua: config_apply_script });
    r.defineCommand('paycoreConfigRebuild', { lua: config_rebuild_script });
  }
  return r;
}

export class RoutingKeys {
  constructor(readonly prefix: string) {
    assert(/^[A-Za-z0-9_.-]{1,64}$/.test(prefix), `bad routing key prefix ${prefix}`);
  }

  /** The configuration's hash slot: `<config>:<hash>` and `<config>:version`. */
  get config(): string {
    return `{${this.prefix}:rt}`;
  }

  /** The pub/sub channel announcing configuration changes. */
  get changes_channel(): string {
    return `${this.prefix}:rt:changed`;
  }

  /** A channel's hot-path keys (health, circuit, usage, reservations) share this tag. */
  channel(channel_id: string): string {
    return `{${this.prefix}:ch:${channel_id}}`;
  }
}

/** ioredis connection states in which a command cannot run now. */
export const redis_down_states: ReadonlySet<string> = new Set(['reconnecting', 'close', 'end']);

/** A Redis call on a caller's behalf: refused at once while the connection is down (no
 * offline queue to wait in), and any failure reported as DEPENDENCY_DOWN. */
export async function redisCall<T>(redis: RedisClient, call: () => Promise<T>): Promise<T> {
  if (redis_down_states.has(redis.status)) throw dependencyDown('Redis');
  try {
    return await call();
  } catch (error) {
    throw dependencyFailure(error, 'Redis');
  }
}
