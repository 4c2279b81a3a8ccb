// Routing's parts wired together on one Redis connection and key prefix: the configuration
// cache and its sync, its administration, the decision, the caps' reservations, channel
// health — and the configuration kept with routing's but owned elsewhere (merchants, apps,
// risk rules). Each part takes what it needs; the composition root (workers/root/, for the
// gateway and the actor-host threads) hands each consumer only the parts it uses.

import type { RedisClient } from '../connections';
import { assert } from '../errors';
import { Merchants } from '../merchants/merchants';
import { RiskRuleStore } from '../risk/rule-store';
import type { Sealer } from '../seal';
import { RoutingAdmin } from './admin';
import { AppRegistry } from './app-registry';
import { RoutingCache } from './cache';
import type { ConfigStore } from './config-store';
import { ConfigSync } from './config-sync';
import { limits_time_zone_default, version_poll_ms_default } from './constants';
import { RoutingDecisions } from './decision';
import { ChannelHealth } from './health';
import { HealthBatcher } from './health-batch';
import { RoutingKeys, routingRedis } from './keys';
import { CapReservations } from './reservations';
import { circuit_defaults, scoring_defaults, type CircuitOptions, type ScoringOptions } from './scoring';

export interface RoutingOptions {
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
  /** Seals merchants' notify secrets and apps' keys (AES-256-GCM under PAYCORE_DATA_KEY,
   * core/seal.ts): Redis and the JetStream KV copy only ever hold them sealed. */
  sealer: Sealer;
  /** The configuration's durable home (JetStream KV). Without one, Redis is the only copy
   * (unit tests); with one, every write goes there first and an emptied Redis is rebuilt
   * from it. */
  store?: ConfigStore;
  /** Called after this instance rebuilt an emptied Redis from the store (it won the rebuild):
   * live state lost with Redis, the caps' usage, is re-derived then (usage.ts). */
  on_rebuilt?: () => void;
}

export interface Routing {
  /** The configuration in memory; start() it before routing, stop() it at shutdown. */
  cache: RoutingCache;
  admin: RoutingAdmin;
  decisions: RoutingDecisions;
  reservations: CapReservations;
  health: ChannelHealth;
  merchants: Merchants;
  apps: AppRegistry;
  risk_rules: RiskRuleStore;
}

export function createRouting(redis: RedisClient, prefix: string, options: RoutingOptions): Routing {
  const keys = new RoutingKeys(prefix);
  const scoring = { ...scoring_defaults, ...options.scoring };
  const circuit = { ...circuit_defaults, ...options.circuit };
  assert(scoring.bucket_ms > 0 && scoring.window_ms >= scoring.bucket_ms, 'window_ms must hold at least one bucket');
  const clock = options.clock ?? (() => new Date());
  const r = routingRedis(redis);
  const sync = new ConfigSync(r, keys, options.store, options.on_rebuilt);
  const cache = new RoutingCache(r, keys, {
    sealer: options.sealer, sync, version_poll_ms: options.version_poll_ms ?? version_poll_ms_default, on_error: options.on_error ?? (() => undefined),
  });
  const batcher = new HealthBatcher(r, { scoring, circuit, clock, key: (channel_id) => keys.channel(channel_id), on_error: options.on_error });
  batcher.start();
  const decisions = new RoutingDecisions(r, keys, cache, batcher, {
    scoring, circuit, clock, limits_time_zone: options.limits_time_zone ?? limits_time_zone_default, random: options.random ?? Math.random,
  });
  return {
    cache,
    admin: new RoutingAdmin(cache, options.sealer),
    decisions,
    reservations: new CapReservations(r, keys),
    health: new ChannelHealth(batcher),
    merchants: new Merchants(cache, options.sealer),
    apps: new AppRegistry(cache, options.sealer, clock),
    risk_rules: new RiskRuleStore(cache),
  };
}
