// Keeps Redis's copy of the configuration in step with its durable home (config-store.ts):
// every write goes to the store first, then patches Redis; a Redis that lost its
// configuration is rebuilt whole from the store (the Lua scripts in lua.ts do either
// atomically and announce the change).

import type { ConfigOp, ConfigSnapshot, ConfigStore } from './config-store';
import type { RoutingKeys, RoutingRedis } from './keys';
import { config_hashes } from './snapshot';

/** Patch attempts of one configuration write racing rebuilds by other processes. */
const config_write_rounds_max = 3;

export class ConfigSync {
  constructor(
    private readonly redis: RoutingRedis,
    private readonly keys: RoutingKeys,
    /** Without one, Redis is the only copy (unit tests). */
    readonly store: ConfigStore | undefined,
    /** Called after this instance rebuilt an emptied Redis from the store (it won the rebuild). */
    private readonly on_rebuilt: (() => void) | undefined,
  ) {}

  /** Writes the store's snapshot into an empty Redis (a no-op when another process did). */
  async rebuild(): Promise<boolean> {
    const snapshot = await this.store!.snapshot();
    const k = this.keys.config;
    const hashes = [...new Set([...config_hashes, ...snapshot.keys()])];
    const args: (string | number)[] = [Date.now(), this.keys.changes_channel];
    hashes.forEach((hash, i) => {
      for (const [field, value] of snapshot.get(hash) ?? []) args.push(i + 2, field, value);
    });
    const keys = [`${k}:version`, ...hashes.map((hash) => `${k}:${hash}`)];
    const won = (await this.redis.paycoreConfigRebuild(keys.length, ...keys, ...args)) === 1;
    if (won) this.on_rebuilt?.();
    return won;
  }

  /** A deployment from before the store: its configuration lives only in Redis. Copies it to
   * the store once, when the store is empty and Redis holds a configuration. */
  async seedStore(): Promise<void> {
    const store = this.store;
    if (store === undefined || !(await store.isEmpty())) return;
    const k = this.keys.config;
    if ((await this.redis.exists(`${k}:version`)) === 0) return;
    const ops: ConfigOp[] = [];
    for (const hash of config_hashes) {
      for (const [field, value] of Object.entries(await this.redis.hgetall(`${k}:${hash}`))) ops.push({ op: 'hset', hash, field, value });
    }
    await store.write(ops);
  }

  /** Writes configuration changes: to the durable store first (the truth), then to the Redis
   * cache — patched while it holds the configuration, rebuilt whole from the store when it
   * lost it — and announces the change. */
  async write(ops: readonly ConfigOp[], current?: ConfigSnapshot): Promise<void> {
    const k = this.keys.config;
    if (this.store !== undefined) await this.store.write(ops, current);
    const hashes = [...new Set(ops.map((o) => o.hash))];
    const keys = [`${k}:version`, ...hashes.map((hash) => `${k}:${hash}`)];
    const args: (string | number)[] = [this.store === undefined ? '0' : '1', this.keys.changes_channel];
    for (const o of ops) {
      const index = hashes.indexOf(o.hash) + 2;
      if (o.op === 'hset') args.push('H', index, o.field, o.value);
      else if (o.op === 'hdel') for (const field of o.fields) args.push('D', index, field);
      else args.push('X', index);
    }
    // Patch; or, when Redis lost its configuration, rebuild it from the store (which holds
    // these ops already). When another process's rebuild wins, it may predate our write to the
    // store: patch again on top of it.
    for (let round = 0; round < config_write_rounds_max; round += 1) {
      if ((await this.redis.paycoreConfigApply(keys.length, ...keys, ...args)) === 1) return;
      if (await this.rebuild()) return;
    }
    throw new Error(`configuration write raced ${config_write_rounds_max} rebuilds of Redis`);
  }
}
