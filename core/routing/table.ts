// The routing table: configuration in Redis cached in every process, and the decision —
// static eligibility from the cache, then ONE script call that reads live health and circuit
// state, checks the caps, and reserves the chosen channel's limits atomically.
//
// Configuration lives in one hash slot (`{<prefix>:rt}`) so that applying a whole file is a
// single MULTI even on Redis Cluster; the hot-path keys (health, circuit, usage, reservations)
// are hash-tagged per channel (`{<prefix>:ch:<id>}`). Every change bumps `{<prefix>:rt}:version`
// and is published on `<prefix>:rt:changed`; each instance reloads on the message, and polls the
// version as a fallback for messages lost across a reconnect.

import { createHash, randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { assert, dependencyDown, dependencyFailure, invalidFields, PaycoreError, type FieldViolation } from '../errors';
import {
  amount_minor_max, day_counter_ttl_seconds, limits_time_zone_default, month_counter_ttl_seconds,
  reservation_ttl_seconds, version_poll_ms_default,
} from './constants';
import { appToJson, newAppKey, readApp, type App, type AppKeyInfo, type AppView, type StoredAppKey } from './apps';
import { channelToJson, merchantToJson, readChannel, readMerchant, readTable, secretFingerprint, type MerchantInput } from './config';
import type { Sealer } from '../seal';
import { risk_rules_max } from '../constants';
import { readRiskRule, riskRuleToJson, type RiskRule } from '../risk/rules';
import { staticEligibility, type StaticCandidate } from './eligibility';
import { ConfigWrites, type ConfigOp, type ConfigSnapshot, type ConfigStore } from './config-store';
import { commit_script, config_apply_script, config_rebuild_script, outcome_script, release_script, route_script } from './lua';
import { productsForScene, type PaymentOption } from './options';
import { circuit_defaults, healthMetrics, scoring_defaults, staticScore, type CircuitOptions, type ScoringOptions } from './scoring';
import {
  limit_names, type Candidate, type ChannelState, type CircuitState, type Exclusion, type FeeRule, type LiveExclusion, type Merchant, type ProductName,
  type MerchantView, type Outcome, type Reservation, type ReservationRef, type RouteDecision, type RouteOrder, type RoutingChannel,
} from './types';
import { localTime } from './windows';

export interface RoutingTableOptions {
  scoring?: Partial<ScoringOptions>;
  circuit?: Partial<CircuitOptions>;
  /** Calendar days and months of the caps. */
  limits_time_zone?: string;
  version_poll_ms?: number;
  /** [0, 1) source of exploration; seed it in tests (scoring.ts seededRandom). */
  random?: () => number;
  clock?: () => Date;
  /** Called when a background reload fails (the previous cache stays in use). */
  on_error?: (error: unknown) => void;
  /** Seals merchants' notify secrets (AES-256-GCM under PAYCORE_DATA_KEY, core/seal.ts):
   * Redis and the JetStream KV copy only ever hold them sealed. */
  sealer: Sealer;
  /** The configuration's durable home (JetStream KV). Without one, Redis is the only copy
   * (unit tests); with one, every write goes there first and an emptied Redis is rebuilt
   * from it. */
  store?: ConfigStore;
  /** Called after this instance rebuilt an emptied Redis from the store (it won the rebuild):
   * live state lost with Redis, the caps' usage, is re-derived then (usage.ts). */
  on_rebuilt?: () => void;
}

/** An app as the authenticator needs it: its grants and its valid key secrets. */
export interface AppGrant {
  app: App;
  keys: AppKeyInfo[];
  /** key_id → secret (opened from their sealed form). */
  secrets: Map<string, string>;
}

interface Cache {
  version: string;
  channels: RoutingChannel[];
  by_id: Map<string, RoutingChannel>;
  merchants: Map<string, Merchant>;
  /** merchant_id → fingerprint and last 4 of the notify secret; the secret itself is not cached. */
  secret_hints: Map<string, { fingerprint: string; last4: string }>;
  apps: Map<string, AppGrant>;
  /** The risk rules (core/risk), sorted by rule id. */
  risk_rules: RiskRule[];
}

interface ScriptReply {
  chosen: number;
  explored: boolean;
  c: Array<{ status: 'OK' | LiveExclusion; detail: string; score: number; probe: boolean; cb: 'C' | 'O' | 'H'; s: number; e: number; t: number; d: number; ls: number; ln: number }>;
}

type RoutingRedis = Redis & {
  paycoreRoute(keys_count: number, ...args: (string | number)[]): Promise<string>;
  paycoreRelease(key: string, reservation_id: string): Promise<number>;
  paycoreCommit(key: string, reservation_id: string): Promise<number>;
  paycoreOutcome(key: string, ...args: (string | number)[]): Promise<string>;
  paycoreConfigApply(keys_count: number, ...args: (string | number)[]): Promise<number>;
  paycoreConfigRebuild(keys_count: number, ...args: (string | number)[]): Promise<number>;
};

/** The configuration hashes reload reads; a rebuild clears these and any the store holds. */
const config_hashes = ['channels', 'states', 'merchants', 'secrets', 'apps', 'app_keys', 'risk_rules'];
/** How long one app's key change may hold its lock (a crashed holder's lock expires). */
const app_key_lock_ms = 10_000;

/** ioredis connection states in which a command cannot run now. */
const redis_down_states = new Set(['reconnecting', 'close', 'end']);
/** Patch attempts of one configuration write racing rebuilds by other processes. */
const config_write_rounds_max = 3;
const circuit_names: Record<string, CircuitState> = { C: 'CLOSED', O: 'OPEN', H: 'HALF_OPEN' };
const outcome_fields = { success: 's', system_error: 'e', timeout: 't', payer_decline: 'd' } as const;
/** Longest latency recorded for one outcome: anything longer is a hung call, capped so one
 * outlier cannot dominate a window's mean. */
const outcome_latency_ms_max = 120_000;

export class RoutingTable {
  readonly #redis: RoutingRedis;
  readonly #prefix: string;
  readonly #scoring: ScoringOptions;
  readonly #circuit: CircuitOptions;
  readonly #limits_time_zone: string;
  readonly #version_poll_ms: number;
  readonly #random: () => number;
  readonly #clock: () => Date;
  readonly #on_error: (error: unknown) => void;
  readonly #store: ConfigStore | undefined;
  readonly #on_rebuilt: (() => void) | undefined;
  readonly #sealer: Sealer;
  /** Redis was seen without its configuration and the rebuild has not succeeded yet. */
  #lost = false;
  #cache: Cache = { version: '', channels: [], by_id: new Map(), merchants: new Map(), secret_hints: new Map(), apps: new Map(), risk_rules: [] };
  #subscriber: Redis | undefined;
  #poll: NodeJS.Timeout | undefined;
  #reloading: Promise<void> | undefined;
  #reload_again = false;

  constructor(redis: Redis, prefix: string, options: RoutingTableOptions) {
    assert(/^[A-Za-z0-9_.-]{1,64}$/.test(prefix), `bad routing key prefix ${prefix}`);
    this.#redis = redis as RoutingRedis;
    this.#prefix = prefix;
    this.#scoring = { ...scoring_defaults, ...options.scoring };
    this.#circuit = { ...circuit_defaults, ...options.circuit };
    this.#limits_time_zone = options.limits_time_zone ?? limits_time_zone_default;
    this.#version_poll_ms = options.version_poll_ms ?? version_poll_ms_default;
    this.#random = options.random ?? Math.random;
    this.#clock = options.clock ?? (() => new Date());
    this.#on_error = options.on_error ?? (() => undefined);
    this.#store = options.store;
    this.#on_rebuilt = options.on_rebuilt;
    this.#sealer = options.sealer;
    assert(this.#scoring.bucket_ms > 0 && this.#scoring.window_ms >= this.#scoring.bucket_ms, 'window_ms must hold at least one bucket');
    const r = this.#redis;
    if (typeof r.paycoreRoute !== 'function') {
      r.defineCommand('paycoreRoute', { lua: route_script });
      r.defineCommand('paycoreRelease', { lua: release_script, numberOfKeys: 1 });
      r.defineCommand('paycoreCommit', { lua: commit_script, numberOfKeys: 1 });
      r.defineCommand('paycoreOutcome', { lua: outcome_script, numberOfKeys: 1 });
      r.defineCommand('paycoreConfigApply', { lua: config_apply_script });
      r.defineCommand('paycoreConfigRebuild', { lua: config_rebuild_script });
    }
  }

  // ---- keys ---------------------------------------------------------------------------------

  get #config_key(): string {
    return `{${this.#prefix}:rt}`;
  }

  /** The pub/sub channel announcing configuration changes. */
  get changes_channel(): string {
    return `${this.#prefix}:rt:changed`;
  }

  channelKey(channel_id: string): string {
    return `{${this.#prefix}:ch:${channel_id}}`;
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  async start(): Promise<void> {
    await this.#seedStore();
    await this.reload();
    // Its own connection (a subscriber can do nothing else), queueing until connected.
    const subscriber = this.#redis.duplicate({ lazyConnect: false, enableOfflineQueue: true });
    this.#subscriber = subscriber;
    subscriber.on('error', (error) => this.#on_error(error));
    subscriber.on('message', () => void this.#reloadSoon());
    await subscriber.subscribe(this.changes_channel);
    // A message published while we subscribed would be lost: read once more.
    await this.reload();
    this.#poll = setInterval(() => void this.#pollVersion(), this.#version_poll_ms);
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
    return this.#cache.version;
  }

  /** Whether this instance can route now: it holds a configuration with channels, and Redis
   * has not been seen without its configuration since (health says NOT_SERVING otherwise). */
  get routable(): boolean {
    return !this.#lost && this.#cache.channels.length > 0 && !redis_down_states.has(this.#redis.status);
  }

  async #pollVersion(): Promise<void> {
    try {
      const version = (await this.#redis.get(`${this.#config_key}:version`)) ?? '0';
      if (version !== this.#cache.version) await this.#reloadSoon();
    } catch (error) {
      this.#on_error(error);
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
        this.#on_error(error);
      } finally {
        this.#reloading = undefined;
      }
    })();
    return this.#reloading;
  }

  /** Reads the whole configuration in one MULTI and swaps the cache. A Redis without its
   * configuration (restarted empty) is first rebuilt from the durable store. */
  async reload(): Promise<void> {
    if (this.#store !== undefined && (await this.#redis.exists(`${this.#config_key}:version`)) === 0) {
      this.#lost = true;
      await this.#rebuild();
    }
    const k = this.#config_key;
    const replies = await this.#redis.multi()
      .get(`${k}:version`).hgetall(`${k}:channels`).hgetall(`${k}:states`).hgetall(`${k}:merchants`).hgetall(`${k}:secrets`)
      .hgetall(`${k}:apps`).hgetall(`${k}:app_keys`).hgetall(`${k}:risk_rules`)
      .exec();
    assert(replies !== null, 'routing reload transaction aborted');
    for (const [error] of replies) if (error) throw error;
    const [version, channels_raw, states, merchants_raw, secrets, apps_raw, app_keys_raw, risk_raw] = replies.map(([, v]) => v) as [
      string | null, Record<string, string>, Record<string, string>, Record<string, string>, Record<string, string>, Record<string, string>, Record<string, string>, Record<string, string>,
    ];
    const violations: FieldViolation[] = [];
    const channels: RoutingChannel[] = [];
    for (const [id, text] of Object.entries(channels_raw)) {
      const json = JSON.parse(text) as Record<string, unknown>;
      json.state = states[id] ?? 'ENABLED';
      const channel = readChannel(json, `stored channel ${id}`, violations);
      if (channel !== undefined) channels.push(channel);
    }
    const merchants = new Map<string, Merchant>();
    for (const [id, text] of Object.entries(merchants_raw)) {
      const merchant = readMerchant(JSON.parse(text), `stored merchant ${id}`, violations);
      if (merchant !== undefined) merchants.set(id, merchant);
    }
    const risk_rules: RiskRule[] = [];
    for (const [id, text] of Object.entries(risk_raw)) {
      const rule = readRiskRule(JSON.parse(text), `stored risk rule ${id}`, violations);
      if (rule !== undefined) risk_rules.push(rule);
    }
    risk_rules.sort((a, b) => (a.rule_id < b.rule_id ? -1 : 1));
    // What we stored was validated on the way in: anything else is a bug or a hand edit.
    assert(violations.length === 0, `routing table in Redis is invalid: ${violations.map((v) => `${v.field} ${v.description}`).join('; ')}`);
    channels.sort((a, b) => (a.channel_id < b.channel_id ? -1 : 1));
    const secret_hints = new Map<string, { fingerprint: string; last4: string }>();
    for (const [id, sealed] of Object.entries(secrets)) {
      const secret = this.#sealer.open<string>(sealed);
      secret_hints.set(id, { fingerprint: secretFingerprint(secret), last4: secret.slice(-4) });
    }
    const apps = this.#readApps(apps_raw, app_keys_raw);
    this.#cache = { version: version ?? '0', channels, by_id: new Map(channels.map((c) => [c.channel_id, c])), merchants, secret_hints, apps, risk_rules };
    if (this.#store === undefined || version !== null) this.#lost = false;
  }

  #readApps(apps_raw: Record<string, string>, app_keys_raw: Record<string, string>): Map<string, AppGrant> {
    const violations: FieldViolation[] = [];
    const apps = new Map<string, AppGrant>();
    for (const [id, text] of Object.entries(apps_raw)) {
      const app = readApp(JSON.parse(text), `stored app ${id}`, violations);
      if (app === undefined) continue;
      const stored = JSON.parse(app_keys_raw[id] ?? '[]') as StoredAppKey[];
      const secrets = new Map<string, string>();
      for (const key of stored) secrets.set(key.key_id, this.#sealer.open<string>(key.sealed));
      apps.set(id, { app, keys: stored.map(({ sealed: _sealed, ...info }) => info), secrets });
    }
    assert(violations.length === 0, `apps in Redis are invalid: ${violations.map((v) => `${v.field} ${v.description}`).join('; ')}`);
    return apps;
  }

  // ---- the durable store --------------------------------------------------------------------

  /** Writes the store's snapshot into an empty Redis (a no-op when another process did). */
  async #rebuild(): Promise<boolean> {
    const snapshot = await this.#store!.snapshot();
    const k = this.#config_key;
    const hashes = [...new Set([...config_hashes, ...snapshot.keys()])];
    const args: (string | number)[] = [Date.now(), this.changes_channel];
    hashes.forEach((hash, i) => {
      for (const [field, value] of snapshot.get(hash) ?? []) args.push(i + 2, field, value);
    });
    const keys = [`${k}:version`, ...hashes.map((hash) => `${k}:${hash}`)];
    const won = (await this.#redis.paycoreConfigRebuild(keys.length, ...keys, ...args)) === 1;
    if (won) this.#on_rebuilt?.();
    return won;
  }

  /** A deployment from before the store: its configuration lives only in Redis. Copies it to
   * the store once, when the store is empty and Redis holds a configuration. */
  async #seedStore(): Promise<void> {
    const store = this.#store;
    if (store === undefined || !(await store.isEmpty())) return;
    const k = this.#config_key;
    if ((await this.#redis.exists(`${k}:version`)) === 0) return;
    const ops: ConfigOp[] = [];
    for (const hash of config_hashes) {
      for (const [field, value] of Object.entries(await this.#redis.hgetall(`${k}:${hash}`))) ops.push({ op: 'hset', hash, field, value });
    }
    await store.write(ops);
  }

  /** Writes configuration changes: to the durable store first (the truth), then to the Redis
   * cache — patched while it holds the configuration, rebuilt whole from the store when it
   * lost it — and announces the change. */
  async #writeConfig(ops: readonly ConfigOp[], current?: ConfigSnapshot): Promise<void> {
    const k = this.#config_key;
    if (this.#store !== undefined) await this.#store.write(ops, current);
    const hashes = [...new Set(ops.map((o) => o.hash))];
    const keys = [`${k}:version`, ...hashes.map((hash) => `${k}:${hash}`)];
    const args: (string | number)[] = [this.#store === undefined ? '0' : '1', this.changes_channel];
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
      if ((await this.#redis.paycoreConfigApply(keys.length, ...keys, ...args)) === 1) return;
      if (await this.#rebuild()) return;
    }
    throw new Error(`configuration write raced ${config_write_rounds_max} rebuilds of Redis`);
  }

  // ---- administration -----------------------------------------------------------------------

  async #commit(write: (m: ConfigWrites) => void, current?: ConfigSnapshot): Promise<void> {
    const m = new ConfigWrites(this.#config_key);
    write(m);
    try {
      await this.#writeConfig(m.ops, current);
      await this.reload();
    } catch (error) {
      throw dependencyFailure(error, 'Redis');
    }
  }

  async upsertChannel(channel: RoutingChannel): Promise<RoutingChannel> {
    const violations: FieldViolation[] = [];
    const json = channelToJson(channel);
    const parsed = readChannel(json, 'channel', violations);
    if (parsed === undefined) throw invalidFields(violations);
    const { state, ...definition } = json;
    const k = this.#config_key;
    await this.#commit((m) => m.hset(`${k}:channels`, parsed.channel_id, JSON.stringify(definition)).hset(`${k}:states`, parsed.channel_id, String(state)));
    return this.getChannel(parsed.channel_id);
  }

  getChannel(channel_id: string): RoutingChannel {
    const channel = this.#cache.by_id.get(channel_id);
    if (channel === undefined) throw new PaycoreError('NOT_FOUND', `no channel ${channel_id}`);
    return channel;
  }

  listChannels(): RoutingChannel[] {
    return [...this.#cache.channels];
  }

  async setChannelState(channel_id: string, state: ChannelState): Promise<RoutingChannel> {
    const exists = await this.#redis.hexists(`${this.#config_key}:channels`, channel_id);
    if (exists === 0) throw new PaycoreError('NOT_FOUND', `no channel ${channel_id}`);
    await this.#commit((m) => m.hset(`${this.#config_key}:states`, channel_id, state));
    return this.getChannel(channel_id);
  }

  /** `notify_secret` is required for a new merchant and kept when absent on an update. */
  async upsertMerchant(input: MerchantInput): Promise<MerchantView> {
    const violations: FieldViolation[] = [];
    const json = { ...merchantToJson(input), ...(input.notify_secret === undefined ? {} : { notify_secret: input.notify_secret }) };
    const merchant = readMerchant(json, 'merchant', violations);
    await this.reload();
    if (merchant !== undefined) {
      merchant.channel_ids.forEach((id, i) => {
        if (!this.#cache.by_id.has(id)) violations.push({ field: `merchant.channel_ids[${i}]`, description: `names channel ${id}, which the routing table does not have` });
      });
      if (merchant.notify_secret === undefined && !this.#cache.secret_hints.has(merchant.merchant_id)) {
        violations.push({ field: 'merchant.notify_secret', description: 'is required for a new merchant' });
      }
    }
    if (merchant === undefined || violations.length > 0) throw invalidFields(violations);
    const k = this.#config_key;
    await this.#commit((m) => {
      m.hset(`${k}:merchants`, merchant.merchant_id, JSON.stringify(merchantToJson(merchant)));
      if (merchant.notify_secret !== undefined) m.hset(`${k}:secrets`, merchant.merchant_id, this.#sealer.seal(merchant.notify_secret));
    });
    return this.getMerchant(merchant.merchant_id);
  }

  /** Every reservation marker of a channel with its age (from the marker's remaining TTL):
   * what the reservation sweeper reconciles with the event log. */
  async reservationMarkers(channel_id: string): Promise<{ reservation_id: string; age_ms: number }[]> {
    const prefix = `${this.channelKey(channel_id)}:r:`;
    const found: { reservation_id: string; age_ms: number }[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await this.#redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      cursor = next;
      if (keys.length === 0) continue;
      const ttls = await Promise.all(keys.map((key) => this.#redis.pttl(key)));
      keys.forEach((key, i) => {
        const ttl_ms = ttls[i]!;
        if (ttl_ms >= 0) found.push({ reservation_id: key.slice(prefix.length), age_ms: reservation_ttl_seconds * 1000 - ttl_ms });
      });
    } while (cursor !== '0');
    return found;
  }

  /** The channels the merchant is contracted on (none when it is unknown). */
  merchantChannels(merchant_id: string): readonly string[] {
    return this.#cache.merchants.get(merchant_id)?.channel_ids ?? [];
  }

  /** The merchant's fee rule for a product (undefined: none agreed, or no such merchant). */
  merchantFeeRule(merchant_id: string, product: ProductName): FeeRule | undefined {
    return this.#cache.merchants.get(merchant_id)?.fee_rates[product];
  }

  getMerchant(merchant_id: string): MerchantView {
    const merchant = this.#cache.merchants.get(merchant_id);
    if (merchant === undefined) throw new PaycoreError('NOT_FOUND', `no merchant ${merchant_id}`);
    const hint = this.#cache.secret_hints.get(merchant_id);
    return { ...merchant, notify_secret_fingerprint: hint?.fingerprint ?? '', notify_secret_last4: hint?.last4 ?? '' };
  }

  /** For the merchant notifier only: never put it in a reply, a log or an event. */
  async notifySecret(merchant_id: string): Promise<string | undefined> {
    const sealed = await this.#redis.hget(`${this.#config_key}:secrets`, merchant_id);
    return sealed === null ? undefined : this.#sealer.open<string>(sealed);
  }

  /** The whole table as the declarative file (no secrets: merchants and apps keep theirs on apply). */
  async exportTable(): Promise<{ version: 1; channels: unknown[]; merchants: unknown[]; apps: unknown[]; risk_rules: unknown[] }> {
    await this.reload();
    return {
      version: 1,
      channels: this.#cache.channels.map(channelToJson),
      merchants: [...this.#cache.merchants.values()].sort((a, b) => (a.merchant_id < b.merchant_id ? -1 : 1)).map(merchantToJson),
      apps: this.listApps().map(appToJson),
      risk_rules: this.#cache.risk_rules.map(riskRuleToJson),
    };
  }

  /** Replaces the whole table with the file's content, or refuses it whole (INVALID_FIELD
   * naming every bad entry and field). Merchants and channels absent from the file are
   * removed; merchants without `notify_secret` keep the stored one. When the file lists
   * `apps`, apps absent from it are removed with their keys; listed apps keep their keys; a
   * file without `apps` leaves them as they are. */
  async applyTable(file: unknown): Promise<{ version: string; channels: number; merchants: number; apps?: number; risk_rules?: number }> {
    const k = this.#config_key;
    const secret_ids = new Set(await this.#redis.hkeys(`${k}:secrets`));
    const { table, violations } = readTable(file, (id) => secret_ids.has(id));
    if (table === undefined) throw invalidFields(violations);
    const keep = new Set(table.merchants.map((m) => m.merchant_id));
    const app_ids = table.apps === undefined ? [] : await this.#redis.hkeys(`${k}:apps`);
    await this.#commit((m) => {
      m.del(`${k}:channels`, `${k}:states`, `${k}:merchants`);
      for (const channel of table.channels) {
        const { state, ...definition } = channelToJson(channel);
        m.hset(`${k}:channels`, channel.channel_id, JSON.stringify(definition)).hset(`${k}:states`, channel.channel_id, String(state));
      }
      for (const merchant of table.merchants) {
        m.hset(`${k}:merchants`, merchant.merchant_id, JSON.stringify(merchantToJson(merchant)));
        if (merchant.notify_secret !== undefined) m.hset(`${k}:secrets`, merchant.merchant_id, this.#sealer.seal(merchant.notify_secret));
      }
      const dropped = [...secret_ids].filter((id) => !keep.has(id));
      if (dropped.length > 0) m.hdel(`${k}:secrets`, ...dropped);
      if (table.apps !== undefined) {
        m.del(`${k}:apps`);
        for (const app of table.apps) m.hset(`${k}:apps`, app.app_id, JSON.stringify(appToJson(app)));
        const listed = new Set(table.apps.map((a) => a.app_id));
        m.hdel(`${k}:app_keys`, ...app_ids.filter((id) => !listed.has(id)));
      }
      if (table.risk_rules !== undefined) {
        m.del(`${k}:risk_rules`);
        for (const rule of table.risk_rules) m.hset(`${k}:risk_rules`, rule.rule_id, JSON.stringify(riskRuleToJson(rule)));
      }
    });
    const applied = { version: this.#cache.version, channels: table.channels.length, merchants: table.merchants.length };
    return { ...applied, ...(table.apps === undefined ? {} : { apps: table.apps.length }), ...(table.risk_rules === undefined ? {} : { risk_rules: table.risk_rules.length }) };
  }

  // ---- risk rules ---------------------------------------------------------------------------

  /** The risk rules in force (the cache: hot-reloaded with the rest of the table). */
  riskRules(): readonly RiskRule[] {
    return this.#cache.risk_rules;
  }

  /** Creates or replaces a risk rule (validated whole: INVALID_FIELD naming each bad field). */
  async upsertRiskRule(input: unknown): Promise<RiskRule> {
    const violations: FieldViolation[] = [];
    const rule = readRiskRule(input, 'rule', violations);
    if (rule === undefined) throw invalidFields(violations);
    await this.reload();
    if (!this.#cache.risk_rules.some((r) => r.rule_id === rule.rule_id) && this.#cache.risk_rules.length >= risk_rules_max) {
      throw invalidFields([{ field: 'rule.rule_id', description: `the table holds ${risk_rules_max} risk rules already` }]);
    }
    await this.#commit((m) => m.hset(`${this.#config_key}:risk_rules`, rule.rule_id, JSON.stringify(riskRuleToJson(rule))));
    return this.#cache.risk_rules.find((r) => r.rule_id === rule.rule_id) ?? rule;
  }

  async deleteRiskRule(rule_id: string): Promise<void> {
    const k = this.#config_key;
    if ((await this.#redis.hexists(`${k}:risk_rules`, rule_id)) === 0) throw new PaycoreError('NOT_FOUND', `no risk rule ${rule_id}`);
    await this.#commit((m) => m.hdel(`${k}:risk_rules`, rule_id));
  }

  // ---- apps ---------------------------------------------------------------------------------

  /** Creates or replaces an app's merchants and roles; its keys stay. */
  async upsertApp(input: App): Promise<AppView> {
    const violations: FieldViolation[] = [];
    const app = readApp(appToJson(input), 'app', violations);
    if (app === undefined) throw invalidFields(violations);
    await this.#commit((m) => m.hset(`${this.#config_key}:apps`, app.app_id, JSON.stringify(appToJson(app))));
    return this.getApp(app.app_id);
  }

  getApp(app_id: string): AppView {
    const grant = this.#cache.apps.get(app_id);
    if (grant === undefined) throw new PaycoreError('NOT_FOUND', `no app ${app_id}`);
    return { ...grant.app, keys: grant.keys };
  }

  listApps(): AppView[] {
    return [...this.#cache.apps.values()].map((g) => ({ ...g.app, keys: g.keys })).sort((a, b) => (a.app_id < b.app_id ? -1 : 1));
  }

  async deleteApp(app_id: string): Promise<void> {
    const k = this.#config_key;
    if ((await this.#redis.hexists(`${k}:apps`, app_id)) === 0) throw new PaycoreError('NOT_FOUND', `no app ${app_id}`);
    await this.#commit((m) => m.hdel(`${k}:apps`, app_id).hdel(`${k}:app_keys`, app_id));
  }

  /** The app's grants and key secrets, from the cache (the authenticator's hot path). */
  appGrant(app_id: string): AppGrant | undefined {
    return this.#cache.apps.get(app_id);
  }

  /** A new current key; the current one becomes previous. Refused while a previous key is
   * still valid: retiring it is the operator's decision, never a side effect. */
  async rotateAppKey(app_id: string, now_ms = this.#clock().getTime()): Promise<{ app: AppView; key_id: string; secret: string }> {
    const sealer = this.#sealer;
    const { info, secret } = newAppKey(now_ms);
    await this.#changeKeys(app_id, (keys) => {
      if (keys.some((key) => key.state === 'PREVIOUS')) {
        throw new PaycoreError('ILLEGAL_STATE', `app ${app_id} still has a previous key: retire it first (RetireAppKey)`);
      }
      return [{ ...info, sealed: sealer.seal(secret) }, ...keys.map((key) => ({ ...key, state: 'PREVIOUS' as const }))];
    });
    return { app: this.getApp(app_id), key_id: info.key_id, secret };
  }

  /** Ends the previous key's validity. */
  async retireAppKey(app_id: string): Promise<AppView> {
    await this.#changeKeys(app_id, (keys) => {
      if (!keys.some((key) => key.state === 'PREVIOUS')) throw new PaycoreError('ILLEGAL_STATE', `app ${app_id} has no previous key`);
      return keys.filter((key) => key.state === 'CURRENT');
    });
    return this.getApp(app_id);
  }

  /** Read-modify-write of an app's keys under a short Redis lock, so two changes at once (two
   * admins, two gateways) cannot both win with one new secret silently lost: the second is
   * refused and retries. The write itself goes through the store like any configuration. */
  async #changeKeys(app_id: string, change: (keys: StoredAppKey[]) => StoredAppKey[]): Promise<void> {
    const k = this.#config_key;
    const lock = `${k}:lock:app_keys:${app_id}`;
    const token = randomBytes(8).toString('hex');
    if ((await this.#redis.set(lock, token, 'PX', app_key_lock_ms, 'NX')) !== 'OK') {
      throw new PaycoreError('ILLEGAL_STATE', `app ${app_id}'s keys are being changed by another call: retry`);
    }
    try {
      const [exists, raw] = await Promise.all([this.#redis.hexists(`${k}:apps`, app_id), this.#redis.hget(`${k}:app_keys`, app_id)]);
      if (exists === 0) throw new PaycoreError('NOT_FOUND', `no app ${app_id}`);
      const next = change(raw === null ? [] : (JSON.parse(raw) as StoredAppKey[]));
      await this.#commit((m) => m.hset(`${k}:app_keys`, app_id, JSON.stringify(next)));
    } finally {
      if ((await this.#redis.get(lock)) === token) await this.#redis.del(lock);
    }
  }

  /** A Redis call on a caller's behalf: refused at once while the connection is down (no
   * offline queue to wait in), and any failure reported as DEPENDENCY_DOWN. */
  async #redisCall<T>(call: () => Promise<T>): Promise<T> {
    if (redis_down_states.has(this.#redis.status)) throw dependencyDown('Redis');
    try {
      return await call();
    } catch (error) {
      throw dependencyFailure(error, 'Redis');
    }
  }

  // ---- decisions ----------------------------------------------------------------------------

  /** Chooses a channel and reserves its limits. Release the reservation when the attempt
   * fails or the payment closes; commit it when the payment succeeds. */
  route(order: RouteOrder): Promise<RouteDecision> {
    return this.#decide(order, true);
  }

  /** The same decision as a dry run: nothing reserved, no circuit moved. Lists every channel. */
  explain(order: RouteOrder): Promise<RouteDecision> {
    return this.#decide(order, false);
  }

  async #decide(order: RouteOrder, reserve: boolean): Promise<RouteDecision> {
    assert(order.amount_minor > 0n && order.amount_minor <= amount_minor_max, `route amount ${order.amount_minor} outside 1..${amount_minor_max}`);
    const at = order.now ?? this.#clock();
    const cache = this.#cache;
    const { eligible, excluded } = staticEligibility(cache.channels, cache.merchants.get(order.merchant_id), order, at, reserve);
    if (eligible.length === 0) return { candidates: [], excluded };
    const local = localTime(at, this.#limits_time_zone);
    const card_digest = order.card_token === undefined || order.card_token === '' ? '' : cardDigest(order.card_token);
    const reservation_id = `${order.payment_id === '' ? 'explain' : order.payment_id}.${randomBytes(6).toString('hex')}`;
    const explore_pick = reserve && this.#random() < this.#scoring.exploration_share ? this.#random() : -1;
    const reply = await this.#runScript(eligible, order.amount_minor, at, reserve, local.day, local.month, card_digest, reservation_id, explore_pick);
    const candidates: Candidate[] = [];
    reply.c.forEach((r, i) => {
      const { channel, fee_minor } = eligible[i]!;
      const health = { successes: r.s, system_errors: r.e, timeouts: r.t, payer_declines: r.d, latency_ms_sum: r.ls, latency_count: r.ln };
      const metrics = healthMetrics(health, this.#scoring);
      const status = i + 1 === reply.chosen ? 'CHOSEN' : r.status === 'OK' ? 'ELIGIBLE' : r.status;
      candidates.push({ channel_id: channel.channel_id, status, fee_minor, score: r.score, ...metrics, health, circuit: circuit_names[r.cb] ?? 'CLOSED', probe: r.probe && i + 1 === reply.chosen });
      if (r.status !== 'OK') excluded.push({ channel_id: channel.channel_id, reason: r.status, detail: r.detail });
    });
    const rank = (c: Candidate) => (c.status === 'CHOSEN' ? 0 : c.status === 'ELIGIBLE' ? 1 : 2);
    const decision: RouteDecision = { candidates: [...candidates].sort((a, b) => rank(a) - rank(b) || b.score - a.score), excluded };
    if (reply.chosen > 0) {
      const chosen = candidates[reply.chosen - 1]!;
      decision.chosen = { channel_id: chosen.channel_id, fee_minor: chosen.fee_minor, probe: chosen.probe, explored: reply.explored };
      if (reserve) {
        decision.chosen.reservation = { reservation_id, channel_id: chosen.channel_id, amount_minor: order.amount_minor.toString(), day: local.day, month: local.month };
        if (card_digest !== '') decision.chosen.reservation.card_digest = card_digest;
      }
    }
    return decision;
  }

  async #runScript(
    eligible: StaticCandidate[], amount_minor: bigint, at: Date, reserve: boolean,
    day: string, month: string, card_digest: string, reservation_id: string, explore_pick: number,
  ): Promise<ScriptReply> {
    const s = this.#scoring;
    const c = this.#circuit;
    const keys = eligible.map((e) => this.channelKey(e.channel.channel_id));
    const args: (string | number)[] = [
      at.getTime(), reserve ? '1' : '0', amount_minor.toString(), day, month, card_digest, reservation_id, explore_pick, '',
      s.success_rate_prior, s.prior_attempts, s.latency_ms_prior, s.bp_per_success_pct, s.bp_per_latency_second, s.bp_per_timeout_pct,
      s.window_ms, s.bucket_ms, c.cooldown_ms, c.probes_max, c.probe_timeout_ms,
      reservation_ttl_seconds, day_counter_ttl_seconds, month_counter_ttl_seconds,
    ];
    for (const e of eligible) {
      args.push(staticScore(e.fee_minor, amount_minor, e.channel.priority, s), e.channel.weight);
      for (const name of limit_names) {
        const cap = e.channel.limits[name];
        args.push(cap === undefined ? '' : cap.toString());
      }
    }
    const text = await this.#redisCall(() => this.#redis.paycoreRoute(keys.length, ...keys, ...args));
    const reply = parseRouteReply(text);
    assert(reply.c.length === eligible.length, `route script answered for ${reply.c.length} of ${eligible.length} candidates`);
    return reply;
  }

  /** The time zone of the caps' calendar days and months. */
  get limits_time_zone(): string {
    return this.#limits_time_zone;
  }

  /** Adds usage to a channel's day and month counters, or to one card's on that channel when
   * `card_digest` is given (re-derived after Redis lost them). Keys as the route script's. */
  async addUsage(channel_id: string, day: string, month: string, usage: { day: { amount_minor: bigint; count: number }; month: { amount_minor: bigint; count: number } }, card_digest?: string): Promise<void> {
    const base = card_digest === undefined ? `${this.channelKey(channel_id)}:u` : `${this.channelKey(channel_id)}:k:${card_digest}`;
    await this.#redis.multi()
      .hincrby(`${base}:d:${day}`, 'a', usage.day.amount_minor.toString()).hincrby(`${base}:d:${day}`, 'n', usage.day.count).expire(`${base}:d:${day}`, day_counter_ttl_seconds)
      .hincrby(`${base}:m:${month}`, 'a', usage.month.amount_minor.toString()).hincrby(`${base}:m:${month}`, 'n', usage.month.count).expire(`${base}:m:${month}`, month_counter_ttl_seconds)
      .exec();
  }

  /** Returns the reservation's amounts and counts to its channel's caps. Idempotent: true
   * only for the call that released it. */
  async release(reservation: ReservationRef): Promise<boolean> {
    return (await this.#redis.paycoreRelease(this.channelKey(reservation.channel_id), reservation.reservation_id)) === 1;
  }

  /** The payment succeeded: its usage stays counted; later releases are no-ops. */
  async commit(reservation: ReservationRef): Promise<boolean> {
    return (await this.#redis.paycoreCommit(this.channelKey(reservation.channel_id), reservation.reservation_id)) === 1;
  }

  /** One attempt's outcome for the channel's health and circuit. Payer declines are recorded
   * (for explanation) but never count against the channel. */
  async recordOutcome(channel_id: string, outcome: Outcome): Promise<CircuitState> {
    assert(Number.isFinite(outcome.latency_ms) && outcome.latency_ms >= 0, `bad outcome latency ${outcome.latency_ms}`);
    const at = outcome.at ?? this.#clock();
    const s = this.#scoring;
    const c = this.#circuit;
    const latency_ms = Math.min(Math.round(outcome.latency_ms), outcome_latency_ms_max);
    const started_ms = outcome.started_at?.getTime() ?? at.getTime() - Math.round(outcome.latency_ms);
    const state = await this.#redis.paycoreOutcome(
      this.channelKey(channel_id), at.getTime(), outcome_fields[outcome.kind], latency_ms,
      s.bucket_ms, s.window_ms, c.failure_rate_open, c.volume_min, c.probe_successes_close, c.cooldown_ms,
      started_ms, outcome.operation === 'query' ? 'q' : '',
    );
    return circuit_names[state] ?? 'CLOSED';
  }

  /** Products with a channel that could take such an order now, in the scene's display order
   * (options.ts). Payer elements are not checked: the payer supplies them after choosing. */
  async listPaymentOptions(merchant_id: string, amount_minor: bigint, currency: string, scene: string, now?: Date): Promise<PaymentOption[]> {
    const order_of_scene = productsForScene(scene);
    if (order_of_scene === undefined) throw invalidFields([{ field: 'scene', description: 'is not a known scene' }]);
    const merchant = this.#cache.merchants.get(merchant_id);
    if (merchant === undefined) return [];
    const at = now ?? this.#clock();
    const all: StaticCandidate[] = [];
    const product_of: string[] = [];
    for (const option of order_of_scene) {
      const order: RouteOrder = {
        payment_id: '', merchant_id, product: option.product, amount_minor, currency,
        payer_elements_present: ['client_ip', 'openid', 'auth_code', 'card_token', 'bank_code'], include_channels: [], exclude_channels: [],
      };
      for (const e of staticEligibility(this.#cache.channels, merchant, order, at, true).eligible) {
        all.push(e);
        product_of.push(option.product);
      }
    }
    if (all.length === 0) return [];
    const local = localTime(at, this.#limits_time_zone);
    const reply = await this.#runScript(all, amount_minor, at, false, local.day, local.month, '', 'options', -1);
    const open = new Set(reply.c.flatMap((r, i) => (r.status === 'OK' ? [product_of[i]] : [])));
    return order_of_scene.filter((o) => open.has(o.product));
  }
}

/** The decision script's reply (lua.ts): 'chosen|explored', then per candidate
 * 'status|cb|probe|score|s|e|t|d|ls|ln|detail'. */
function parseRouteReply(text: string): ScriptReply {
  const lines = text.split('\n');
  const [chosen, explored] = lines[0]!.split('|');
  const c: ScriptReply['c'] = [];
  for (let i = 1; i < lines.length; i += 1) {
    const f = lines[i]!.split('|');
    assert(f.length >= 11, `route script reply line ${i} malformed`);
    c.push({
      status: f[0] as ScriptReply['c'][number]['status'], cb: f[1] as 'C' | 'O' | 'H', probe: f[2] === '1', score: Number(f[3]),
      s: Number(f[4]), e: Number(f[5]), t: Number(f[6]), d: Number(f[7]), ls: Number(f[8]), ln: Number(f[9]),
      detail: f.length === 11 ? f[10]! : f.slice(10).join('|'),
    });
  }
  return { chosen: Number(chosen), explored: explored === '1', c };
}

/** Card tokens never appear in keys: 16 hex characters of their SHA-256. */
export function cardDigest(card_token: string): string {
  return createHash('sha256').update(`paycore.card.v1:${card_token}`, 'utf8').digest('hex').slice(0, 16);
}

export type { Exclusion };
