// How paycore authenticates to NATS and Redis. Every place that connects (the gateway's main
// thread, each actor-host thread, the test and bench stacks) builds its options here, so a
// credential configured once is used everywhere. Secrets are read from the configuration
// (or the files it names) at connect time and never logged.
//
// NATS: user/password, token, an nkey seed file or a JWT creds file — one of them, or none.
// The actor-host threads may use their own credentials (PAYCORE_ACTOR_NATS_*), so each role
// holds only the subject permissions it needs (ops/nats-permissions.conf).
// Redis: an ACL user and password, and TLS (rediss://, with a CA file for a private CA); one
// server, or a Redis Cluster through ioredis's cluster client (every key one script or MULTI
// touches shares a hash tag, so each call lands on one slot).

import { readFileSync } from 'node:fs';
import { credsAuthenticator, nkeyAuthenticator, type ConnectionOptions } from '@nats-io/transport-node';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

export type NatsAuth =
  | { kind: 'none' }
  | { kind: 'user'; user: string; password: string }
  | { kind: 'token'; token: string }
  | { kind: 'nkey'; seed_file: string }
  | { kind: 'creds'; creds_file: string };

export interface RedisAuth {
  username: string | undefined;
  password: string | undefined;
  /** A CA bundle for a rediss:// server whose certificate a private CA signed. */
  tls_ca_file: string | undefined;
}

/** NATS connection options for `auth` (servers, name and the rest are the caller's). */
export function natsAuthOptions(auth: NatsAuth): Partial<ConnectionOptions> {
  switch (auth.kind) {
    case 'none':
      return {};
    case 'user':
      return { user: auth.user, pass: auth.password };
    case 'token':
      return { token: auth.token };
    case 'nkey':
      return { authenticator: nkeyAuthenticator(() => new TextEncoder().encode(readFileSync(auth.seed_file, 'utf8').trim())) };
    case 'creds':
      return { authenticator: credsAuthenticator(() => readFileSync(auth.creds_file)) };
  }
}

/** ioredis options for `auth`, merged over the caller's (URL-borne credentials also work). */
function redisAuthOptions(redis_url: string, auth: RedisAuth): Partial<RedisOptions> {
  const options: Partial<RedisOptions> = {};
  if (auth.username !== undefined) options.username = auth.username;
  if (auth.password !== undefined) options.password = auth.password;
  if (redis_url.startsWith('rediss:')) options.tls = auth.tls_ca_file === undefined ? {} : { ca: readFileSync(auth.tls_ca_file) };
  return options;
}

type Env = Record<string, string | undefined>;

/** Reads one NATS credential set (`<prefix>USER`/`PASSWORD`, `TOKEN`, `NKEY_SEED_FILE`,
 * `CREDS_FILE`); throws a message naming the variable when it is inconsistent. */
export function readNatsAuth(env: Env, prefix: string): NatsAuth | undefined {
  const get = (name: string): string | undefined => (env[prefix + name] === '' ? undefined : env[prefix + name]);
  const user = get('USER');
  const password = get('PASSWORD');
  const token = get('TOKEN');
  const seed_file = get('NKEY_SEED_FILE');
  const creds_file = get('CREDS_FILE');
  const given = [user !== undefined || password !== undefined, token !== undefined, seed_file !== undefined, creds_file !== undefined].filter(Boolean).length;
  if (given === 0) return undefined;
  if (given > 1) throw new Error(`${prefix}USER/PASSWORD, ${prefix}TOKEN, ${prefix}NKEY_SEED_FILE and ${prefix}CREDS_FILE are alternatives: set one`);
  if (user !== undefined || password !== undefined) {
    if (password === undefined) throw new Error(`${prefix}USER needs ${prefix}PASSWORD`);
    if (user === undefined) throw new Error(`${prefix}PASSWORD needs ${prefix}USER`);
    return { kind: 'user', user, password };
  }
  if (token !== undefined) return { kind: 'token', token };
  if (seed_file !== undefined) {
    const seed = readable(`${prefix}NKEY_SEED_FILE`, seed_file).trim();
    if (!/^SU[A-Z2-7]{56}$/.test(seed)) throw new Error(`${prefix}NKEY_SEED_FILE ${seed_file} does not hold a user nkey seed (SU…)`);
    return { kind: 'nkey', seed_file };
  }
  const creds = readable(`${prefix}CREDS_FILE`, creds_file!);
  if (!creds.includes('BEGIN NATS USER JWT') || !creds.includes('BEGIN USER NKEY SEED')) throw new Error(`${prefix}CREDS_FILE ${creds_file} is not a NATS creds file`);
  return { kind: 'creds', creds_file: creds_file! };
}

function readable(name: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new Error(`${name} ${file} cannot be read: ${(error as NodeJS.ErrnoException).code ?? 'error'}`, { cause: error });
  }
}

/** A single Redis or a Redis Cluster: paycore's Redis code takes either (the commands it
 * sends are the same; only SCAN and a subscriber's duplicate differ, see scanKeys and
 * subscriberOf). */
export type RedisClient = Redis | Cluster;

/** Where paycore's Redis is: one server's URL, or a cluster's seed URLs (same scheme). */
export type RedisTarget = { kind: 'single'; url: string } | { kind: 'cluster'; nodes: readonly string[] };

/** A client of `target`, not yet connected (`connect()` it). `options` apply to every node's
 * connection; `enableOfflineQueue` is the cluster's as well. */
export function redisClient(target: RedisTarget, auth: RedisAuth, options: Partial<RedisOptions>): RedisClient {
  if (target.kind === 'single') return new Redis(target.url, { ...options, ...redisAuthOptions(target.url, auth) });
  const nodes = target.nodes.map((url) => {
    const parsed = new URL(url);
    return { host: parsed.hostname, port: Number(parsed.port || 6379) };
  });
  const { enableOfflineQueue, lazyConnect, ...node_options } = options;
  const cluster_options: ClusterOptions = {
    lazyConnect,
    enableOfflineQueue,
    redisOptions: { ...node_options, ...redisAuthOptions(target.nodes[0]!, auth) },
    // A moved slot (failover, resharding) is followed at once; a cluster that is down for a
    // slot answers at once, so a caller is told DEPENDENCY_DOWN instead of waiting.
    retryDelayOnFailover: 100,
    retryDelayOnClusterDown: 100,
    maxRedirections: 4,
    slotsRefreshInterval: 2_000,
  };
  return new Cluster(nodes, cluster_options);
}

/** Every key matching `pattern` (SCAN on each master of a cluster: a key lives on one). */
export async function scanKeys(redis: RedisClient, pattern: string, count = 500): Promise<string[]> {
  const found: string[] = [];
  for (const node of redis instanceof Cluster ? redis.nodes('master') : [redis]) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', count);
      cursor = next;
      found.push(...keys);
    } while (cursor !== '0');
  }
  return found;
}

/** A second connection for SUBSCRIBE (a subscribed connection can do nothing else), queueing
 * until connected. On a cluster a PUBLISH reaches every node, so one subscription suffices. */
export function subscriberOf(redis: RedisClient): RedisClient {
  const overrides = { lazyConnect: false, enableOfflineQueue: true };
  return redis instanceof Cluster ? redis.duplicate(undefined, { ...redis.options, ...overrides }) : redis.duplicate(overrides);
}
