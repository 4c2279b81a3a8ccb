// The composition root (workers/root/): what every thread of paycore opens for itself. The
// layers and the wiring: docs/architecture.md §10.

import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Config } from '../../core/config';
import { natsAuthOptions, redisClient, type NatsAuth, type RedisClient } from '../../core/connections';
import type { Logger } from '../../core/log';
import { names as namesOf, type Names } from '../../core/names';
import { openRouting } from '../../core/routing/open';
import type { Routing } from '../../core/routing/routing';
import { Sealer } from '../../core/seal';

/** What every thread opens for itself: a NATS connection, a Redis client, the routing table
 * (durable configuration, Redis cache) started. */
export interface Connections {
  names: Names;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  redis: RedisClient;
  sealer: Sealer;
  table: Routing;
}

export async function openConnections(config: Config, nats: { name: string; auth: NatsAuth }, log: Logger, before_table?: (c: Omit<Connections, 'table' | 'redis' | 'sealer'>) => Promise<void>): Promise<Connections> {
  const names = namesOf(config.prefix);
  // noAsyncTraces: no stack captured per request (a measured ~4% of CPU under load); a failed
  // request still says what failed.
  // A comma list of URLs seeds a NATS cluster's client (it learns the other servers anyway).
  const nc = await connect({ servers: config.nats_url.split(','), name: nats.name, maxReconnectAttempts: -1, noAsyncTraces: true, ...natsAuthOptions(nats.auth) });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  await before_table?.({ names, nc, js, jsm });
  // No offline queue: while Redis is away a call fails at once (DEPENDENCY_DOWN) instead of
  // waiting for a reconnect its caller has long stopped waiting for.
  const target = config.redis_cluster_nodes === undefined ? { kind: 'single' as const, url: config.redis_url } : { kind: 'cluster' as const, nodes: config.redis_cluster_nodes };
  const redis = redisClient(target, config.redis_auth, { lazyConnect: true, maxRetriesPerRequest: 1, enableOfflineQueue: false });
  await redis.connect();
  const sealer = new Sealer(config.data_key);
  const table = await openRouting(config, js, redis, names, sealer, log);
  return { names, nc, js, jsm, redis, sealer, table };
}
