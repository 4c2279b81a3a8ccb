// Routing as every paycore process opens it (the gateway's main thread and each actor-host
// thread): its durable configuration store, its Redis cache, and — when this instance is the
// one that rebuilt an emptied Redis — the caps' usage re-derived from the log.

import type { JetStreamClient } from '@nats-io/jetstream';
import type { RedisClient } from '../connections';
import type { Config } from '../config';
import type { Logger } from '../log';
import type { Names } from '../names';
import type { Sealer } from '../seal';
import { ConfigStore } from './config-store';
import { createRouting, type Routing } from './routing';
import { circuitOptions, scoringOptions } from './scoring';
import { rederiveUsage } from './usage';

export async function openRouting(config: Config, js: JetStreamClient, redis: RedisClient, names: Names, sealer: Sealer, log: Logger): Promise<Routing> {
  const store = await ConfigStore.open(js, config.prefix, config.stream_replicas);
  const routing: Routing = createRouting(redis, config.prefix, {
    sealer, store, circuit: circuitOptions(config), scoring: scoringOptions(config),
    on_error: (error) => log.warn({ err: String(error) }, 'routing table refresh failed'),
    // This instance rebuilt an emptied Redis: the caps' usage went with it.
    on_rebuilt: () => void rederiveUsage(js, names, routing, (sealed) => sealer.open(sealed)).then(
      (added) => log.warn({ channels: added.channels.size, cards: added.cards.size }, 'Redis lost its data: configuration rebuilt from the store, caps usage re-derived from the event log'),
      (error: unknown) => log.error({ err: String(error) }, 'caps usage re-derivation failed'),
    ),
  });
  return routing;
}
