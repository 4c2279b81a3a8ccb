// Configuration: parsed from the environment once at boot into a typed object. A bad value
// stops startup with a message naming the variable. Defaults are documented in README.md.

import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import type { ChannelConfig, ProductName } from '../channels/channel';
import { notify_schedule_ms_default, notify_timeout_ms_default } from './notify/constants';
import { circuit_defaults, scoring_defaults } from './routing/scoring';
import { idKey, type IdKey } from './ids';
import { destinationPolicy, type DestinationPolicy } from './notify/destination';
import {
  command_timeout_ms_default, create_deadline_ms_max, create_deadline_ms_min, expire_seconds_min_default, query_backoff_ms_default, refund_backoff_ms, timer_retry_backoff_ms_default, watch_lifetime_ms_default, watches_max_default,
  watches_per_app_max_default,
} from './constants';
import type { TlsFiles } from './auth/tls';
import { readNatsAuth, type NatsAuth, type RedisAuth } from './connections';

export interface Config {
  nats_url: string;
  /** How the gateway's thread authenticates to NATS (core/connections.ts). */
  nats_auth: NatsAuth;
  /** How the actor-host threads do (PAYCORE_ACTOR_NATS_*; default: nats_auth). */
  actor_nats_auth: NatsAuth;
  redis_url: string;
  redis_auth: RedisAuth;
  /** Namespaces subjects (`<prefix>.pay.…`), stream names and Redis keys of one deployment. */
  prefix: string;
  grpc_host: string;
  grpc_port: number;
  /** TLS of the gRPC ports; undefined only with PAYCORE_GRPC_INSECURE=1 (development). */
  grpc_tls: TlsFiles | undefined;
  /** The admin services' own address; undefined: served on grpc_port with the rest. */
  admin_grpc_host: string;
  admin_grpc_port: number | undefined;
  /** WatchPayment bounds (core/constants.ts says why). */
  watches_per_app_max: number;
  watches_max: number;
  watch_lifetime_ms: number;
  http_host: string;
  http_port: number;
  /** Base URL providers reach the gateway's HTTP port at (for notify URLs). */
  public_url: string;
  workers: number;
  shards: number;
  channels: ChannelConfig[];
  /** 32 bytes, hex in the environment: seals payer elements in events (core/seal.ts). */
  data_key: Buffer;
  /** 32 bytes, hex in the environment: keys the derivation of payment and refund ids
   * (core/ids.ts), so nobody without it can compute an id from a merchant's order number. */
  id_key: IdKey;
  command_timeout_ms: number;
  query_backoff_ms: number[];
  refund_backoff_ms: number[];
  /** Delays before each retry of a failing timer; then its dead letter. */
  timer_retry_backoff_ms: number[];
  expire_seconds_min: number;
  log_level: string;
  stream_replicas: number;
  /** A declarative routing table (ops/routing.example.json) applied at boot, if set. */
  routing_file: string | undefined;
  /** Merchant notification attempts: delays in ms, the first from the outcome. */
  notify_schedule_ms: number[];
  notify_timeout_ms: number;
  /** Where merchant notifications may go (core/notify/destination.ts): https only when
   * NODE_ENV=production; host names and CIDR ranges allowed although not public (development
   * and tests deliver to 127.0.0.1). Kept as text so the config crosses to worker threads. */
  notify_https_only: boolean;
  notify_allow_hosts: string;
  notify_allow_cidrs: string;
  /** Circuit breaker: how long a channel stays open before probes, and the volume it needs
   * in the health window before it may open (defaults in core/routing/scoring.ts). */
  circuit_cooldown_ms: number;
  circuit_volume_min: number;
  /** Share of routing decisions that measure a healthy non-best channel. */
  exploration_share: number;
  /** The books (core/ledger): PostgreSQL's URL; undefined keeps no books (no projection). */
  database_url: string | undefined;
  /** The time zone whose calendar days are the books' business days (日切). */
  ledger_timezone: string;
  /** How often the settlement cut-off and the day-end close are attempted; 0: never (an
   * operator runs them with LedgerService RunSettlement and CloseDay). */
  ledger_cutoff_interval_ms: number;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

function text(env: Env, name: string, fallback?: string): string {
  const value = env[name];
  if (value !== undefined && value !== '') return value;
  if (fallback === undefined) throw new ConfigError(`${name} is required`);
  return fallback;
}

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw)) throw new ConfigError(`${name} must be a whole number, got '${raw}'`);
  const value = Number(raw);
  if (value < min || value > max) throw new ConfigError(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function url(env: Env, name: string, fallback: string, schemes: string[]): string {
  const value = text(env, name, fallback);
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new ConfigError(`${name} must be a URL, got '${value}'`);
  }
  if (!schemes.includes(parsed.protocol)) throw new ConfigError(`${name} must use ${schemes.join(' or ')}, got '${parsed.protocol}'`);
  return value.replace(/\/$/, '');
}

const products: readonly ProductName[] = [
  'WECHAT_NATIVE', 'WECHAT_JSAPI', 'WECHAT_APP', 'WECHAT_H5', 'ALIPAY_QR', 'ALIPAY_APP', 'ALIPAY_WAP',
  'ALIPAY_PC', 'UNIONPAY_QUICK', 'BANK_B2C', 'BANK_B2B', 'BARCODE',
];

/** Reads the channel file: a JSON array of {channel_id, provider, products, settings}.
 * A setting written `file:<path>` is read from that file (relative to the channel file),
 * so keys stay in files with their own permissions. */
export function loadChannels(file: string): ChannelConfig[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`PAYCORE_CHANNELS_FILE ${file}: ${(error as Error).message}`);
  }
  if (!Array.isArray(raw)) throw new ConfigError(`PAYCORE_CHANNELS_FILE ${file}: must hold a JSON array`);
  const seen = new Set<string>();
  return raw.map((entry: unknown, index: number): ChannelConfig => {
    const where = `PAYCORE_CHANNELS_FILE ${file}: entry ${index}`;
    if (typeof entry !== 'object' || entry === null) throw new ConfigError(`${where} must be an object`);
    const { channel_id, provider, products: served, settings, create_deadline_ms } = entry as Record<string, unknown>;
    if (typeof channel_id !== 'string' || !/^[A-Za-z0-9_-]{1,32}$/.test(channel_id)) throw new ConfigError(`${where}: channel_id must be 1-32 of [A-Za-z0-9_-]`);
    if (seen.has(channel_id)) throw new ConfigError(`${where}: channel_id ${channel_id} appears twice`);
    seen.add(channel_id);
    if (typeof provider !== 'string' || provider === '') throw new ConfigError(`${where}: provider is required`);
    if (!Array.isArray(served) || served.length === 0 || !served.every((p) => products.includes(p as ProductName))) {
      throw new ConfigError(`${where}: products must be a non-empty list of ${products.join(', ')}`);
    }
    if (typeof settings !== 'object' || settings === null) throw new ConfigError(`${where}: settings must be an object`);
    const resolved: Record<string, string> = {};
    for (const [key, value] of Object.entries(settings as Record<string, unknown>)) {
      if (typeof value !== 'string') throw new ConfigError(`${where}: settings.${key} must be a string`);
      resolved[key] = value.startsWith('file:') ? readSetting(path.resolve(path.dirname(file), value.slice(5)), `${where}: settings.${key}`) : value;
    }
    if (create_deadline_ms !== undefined && (!Number.isInteger(create_deadline_ms) || (create_deadline_ms as number) < create_deadline_ms_min || (create_deadline_ms as number) > create_deadline_ms_max)) {
      throw new ConfigError(`${where}: create_deadline_ms must be an integer from ${create_deadline_ms_min} to ${create_deadline_ms_max}`);
    }
    const config: ChannelConfig = { channel_id, provider, products: served as ProductName[], settings: resolved };
    if (create_deadline_ms !== undefined) config.create_deadline_ms = create_deadline_ms as number;
    return config;
  });
}

function readSetting(file: string, where: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (error) {
    throw new ConfigError(`${where}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

function share(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!/^(0|1|0?\.\d+)$/.test(raw) || value < 0 || value > 0.5) throw new ConfigError(`${name} must be a share between 0 and 0.5, got '${raw}'`);
  return value;
}

function backoffList(env: Env, name: string, fallback: readonly number[], min_ms = 10): number[] {
  const raw = text(env, name, fallback.join(','));
  return raw.split(',').map((part) => {
    if (!/^\d+$/.test(part.trim()) || Number(part) < min_ms) throw new ConfigError(`${name} must be a comma list of milliseconds ≥ ${min_ms}, got '${raw}'`);
    return Number(part);
  });
}

function natsAuths(env: Env): Pick<Config, 'nats_auth' | 'actor_nats_auth'> {
  try {
    const nats_auth = readNatsAuth(env, 'PAYCORE_NATS_') ?? { kind: 'none' };
    return { nats_auth, actor_nats_auth: readNatsAuth(env, 'PAYCORE_ACTOR_NATS_') ?? nats_auth };
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
}

function redisAuth(env: Env): RedisAuth {
  const username = env.PAYCORE_REDIS_USERNAME || undefined;
  const password = env.PAYCORE_REDIS_PASSWORD || undefined;
  if (username !== undefined && password === undefined) throw new ConfigError('PAYCORE_REDIS_USERNAME needs PAYCORE_REDIS_PASSWORD');
  const tls_ca_file = env.PAYCORE_REDIS_TLS_CA_FILE || undefined;
  if (tls_ca_file !== undefined) {
    if (!(env.PAYCORE_REDIS_URL ?? '').startsWith('rediss:')) throw new ConfigError('PAYCORE_REDIS_TLS_CA_FILE needs a rediss:// PAYCORE_REDIS_URL');
    try {
      readFileSync(tls_ca_file);
    } catch (error) {
      throw new ConfigError(`PAYCORE_REDIS_TLS_CA_FILE ${tls_ca_file} cannot be read: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  return { username, password, tls_ca_file };
}

function notifyDestinations(env: Env): Pick<Config, 'notify_https_only' | 'notify_allow_hosts' | 'notify_allow_cidrs'> {
  const hosts = env.PAYCORE_NOTIFY_ALLOW_HOSTS ?? '';
  const cidrs = env.PAYCORE_NOTIFY_ALLOW_CIDRS ?? '';
  if (!/^[A-Za-z0-9.,:_ -]*$/.test(hosts)) throw new ConfigError('PAYCORE_NOTIFY_ALLOW_HOSTS must be a comma list of host names');
  try {
    destinationPolicy(false, hosts, cidrs);
  } catch (error) {
    throw new ConfigError(`PAYCORE_NOTIFY_ALLOW_CIDRS must be a comma list of CIDR ranges: ${(error as Error).message}`);
  }
  return { notify_https_only: env.NODE_ENV === 'production', notify_allow_hosts: hosts, notify_allow_cidrs: cidrs };
}

/** The notification destination policy of a configuration. */
export function notifyPolicy(config: Pick<Config, 'notify_https_only' | 'notify_allow_hosts' | 'notify_allow_cidrs'>): DestinationPolicy {
  return destinationPolicy(config.notify_https_only, config.notify_allow_hosts, config.notify_allow_cidrs);
}

function existingFile(env: Env, name: string): string {
  const file = text(env, name);
  try {
    readFileSync(file);
  } catch (error) {
    throw new ConfigError(`${name} names ${file}, which cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return file;
}

/** TLS files of the gRPC ports, or undefined behind the explicit development switch, which
 * production refuses outright: plaintext would expose every app key signature's request and
 * every payment to the network. */
function grpcTls(env: Env): TlsFiles | undefined {
  const insecure = env.PAYCORE_GRPC_INSECURE;
  if (insecure !== undefined && insecure !== '' && insecure !== '0' && insecure !== '1') throw new ConfigError(`PAYCORE_GRPC_INSECURE must be 0 or 1, got '${insecure}'`);
  if (insecure === '1') {
    if (env.NODE_ENV === 'production') throw new ConfigError('PAYCORE_GRPC_INSECURE=1 (plaintext gRPC) is refused when NODE_ENV=production');
    return undefined;
  }
  return {
    cert_file: existingFile(env, 'PAYCORE_GRPC_TLS_CERT'),
    key_file: existingFile(env, 'PAYCORE_GRPC_TLS_KEY'),
    client_ca_file: existingFile(env, 'PAYCORE_GRPC_CLIENT_CA'),
  };
}

function databaseUrl(env: Env): string | undefined {
  const raw = env.PAYCORE_DATABASE_URL;
  if (raw === undefined || raw === '') return undefined;
  return url(env, 'PAYCORE_DATABASE_URL', raw, ['postgres:', 'postgresql:']);
}

function timeZone(env: Env, name: string, fallback: string): string {
  const zone = text(env, name, fallback);
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
  } catch {
    throw new ConfigError(`${name} must be an IANA time zone such as Asia/Shanghai, got '${zone}'`);
  }
  return zone;
}

export function loadConfig(env: Env = process.env): Config {
  const prefix = text(env, 'PAYCORE_PREFIX', 'paycore');
  if (!/^[a-z][a-z0-9_]{0,31}$/.test(prefix)) throw new ConfigError(`PAYCORE_PREFIX must be 1-32 of [a-z0-9_] starting with a letter, got '${prefix}'`);
  const data_key_hex = text(env, 'PAYCORE_DATA_KEY');
  if (!/^[0-9a-f]{64}$/i.test(data_key_hex)) throw new ConfigError('PAYCORE_DATA_KEY must be 64 hex characters (32 bytes)');
  const id_key_hex = text(env, 'PAYCORE_ID_KEY');
  if (!/^[0-9a-f]{64}$/i.test(id_key_hex)) throw new ConfigError('PAYCORE_ID_KEY must be 64 hex characters (32 bytes)');
  if (id_key_hex.toLowerCase() === data_key_hex.toLowerCase()) throw new ConfigError('PAYCORE_ID_KEY must differ from PAYCORE_DATA_KEY');
  const http_port = integer(env, 'PAYCORE_HTTP_PORT', 8080, 1, 65535);
  const http_host = text(env, 'PAYCORE_HTTP_HOST', '127.0.0.1');
  const query_backoff_ms = backoffList(env, 'PAYCORE_QUERY_BACKOFF_MS', query_backoff_ms_default);
  return {
    nats_url: text(env, 'PAYCORE_NATS_URL', 'nats://127.0.0.1:4222'),
    ...natsAuths(env),
    redis_url: url(env, 'PAYCORE_REDIS_URL', 'redis://127.0.0.1:6379/0', ['redis:', 'rediss:']),
    redis_auth: redisAuth(env),
    prefix,
    grpc_host: text(env, 'PAYCORE_GRPC_HOST', '127.0.0.1'),
    grpc_port: integer(env, 'PAYCORE_GRPC_PORT', 50051, 0, 65535),
    grpc_tls: grpcTls(env),
    admin_grpc_host: text(env, 'PAYCORE_ADMIN_GRPC_HOST', text(env, 'PAYCORE_GRPC_HOST', '127.0.0.1')),
    admin_grpc_port: env.PAYCORE_ADMIN_GRPC_PORT === undefined || env.PAYCORE_ADMIN_GRPC_PORT === '' ? undefined : integer(env, 'PAYCORE_ADMIN_GRPC_PORT', 0, 0, 65535),
    watches_per_app_max: integer(env, 'PAYCORE_WATCHES_PER_APP_MAX', watches_per_app_max_default, 1, 1_000_000),
    watches_max: integer(env, 'PAYCORE_WATCHES_MAX', watches_max_default, 1, 1_000_000),
    watch_lifetime_ms: integer(env, 'PAYCORE_WATCH_LIFETIME_MS', watch_lifetime_ms_default, 1_000, 86_400_000),
    http_host,
    http_port,
    public_url: url(env, 'PAYCORE_PUBLIC_URL', `http://${http_host}:${http_port}`, ['http:', 'https:']),
    workers: integer(env, 'PAYCORE_WORKERS', Math.min(availableParallelism(), 64), 1, 64),
    shards: integer(env, 'PAYCORE_SHARDS', 64, 1, 4096),
    channels: loadChannels(text(env, 'PAYCORE_CHANNELS_FILE')),
    data_key: Buffer.from(data_key_hex, 'hex'),
    id_key: idKey(Buffer.from(id_key_hex, 'hex')),
    command_timeout_ms: integer(env, 'PAYCORE_COMMAND_TIMEOUT_MS', command_timeout_ms_default, 100, 600_000),
    query_backoff_ms,
    refund_backoff_ms: backoffList(env, 'PAYCORE_REFUND_BACKOFF_MS', refund_backoff_ms),
    timer_retry_backoff_ms: backoffList(env, 'PAYCORE_TIMER_RETRY_BACKOFF_MS', timer_retry_backoff_ms_default),
    expire_seconds_min: integer(env, 'PAYCORE_EXPIRE_SECONDS_MIN', expire_seconds_min_default, 1, 86_400),
    log_level: text(env, 'PAYCORE_LOG_LEVEL', 'info'),
    stream_replicas: integer(env, 'PAYCORE_STREAM_REPLICAS', 1, 1, 5),
    routing_file: env.PAYCORE_ROUTING_FILE === undefined || env.PAYCORE_ROUTING_FILE === '' ? undefined : env.PAYCORE_ROUTING_FILE,
    notify_schedule_ms: backoffList(env, 'PAYCORE_NOTIFY_SCHEDULE_MS', notify_schedule_ms_default, 0),
    notify_timeout_ms: integer(env, 'PAYCORE_NOTIFY_TIMEOUT_MS', notify_timeout_ms_default, 100, 60_000),
    ...notifyDestinations(env),
    circuit_cooldown_ms: integer(env, 'PAYCORE_CIRCUIT_COOLDOWN_MS', circuit_defaults.cooldown_ms, 100, 3_600_000),
    circuit_volume_min: integer(env, 'PAYCORE_CIRCUIT_VOLUME_MIN', circuit_defaults.volume_min, 1, 100_000),
    exploration_share: share(env, 'PAYCORE_EXPLORATION_SHARE', scoring_defaults.exploration_share),
    database_url: databaseUrl(env),
    ledger_timezone: timeZone(env, 'PAYCORE_LEDGER_TIMEZONE', 'Asia/Shanghai'),
    ledger_cutoff_interval_ms: integer(env, 'PAYCORE_LEDGER_CUTOFF_INTERVAL_MS', 300_000, 0, 86_400_000),
  };
}
