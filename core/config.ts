// Configuration: parsed from the environment once at boot into a typed object. A bad value
// stops startup with a message naming the variable (every bad variable, not only the first).
// Defaults are documented in README.md. The variables are a zod schema: one entry per
// variable with its default, form and bounds; rules that span variables (the keys differ,
// TLS unless the development switch, credentials) run once every variable is valid. It sits in
// the shared layer and imports nothing above it: the defaults it offers are core/constants.ts's,
// and the modules it configures read its values.

import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { idKey, type IdKey } from './ids';
import { cidrRanges } from './cidr';
import {
  circuit_cooldown_ms_default,
  circuit_volume_min_default,
  command_timeout_ms_default,
  lease_ttl_ms_default,
  create_deadline_ms_max,
  create_deadline_ms_min,
  expire_seconds_min_default,
  exploration_share_default,
  notify_schedule_ms_default,
  notify_timeout_ms_default,
  query_backoff_ms_default,
  refund_backoff_ms,
  split_follow_up_ms_default,
  timer_retry_backoff_ms_default,
  watch_lifetime_ms_default,
  watches_max_default,
  watches_per_app_max_default,
  actor_thread_commands_max_default,
  minor_max,
  payout_limits_default,
  type PayoutLimits,
} from './constants';
import { readNatsAuth, type NatsAuth, type RedisAuth } from './connections';
import { z } from 'zod';

export interface Config {
  nats_url: string;
  /** How the gateway's thread authenticates to NATS (core/connections.ts). */
  nats_auth: NatsAuth;
  /** How the actor-host threads do (PAYCORE_ACTOR_NATS_*; default: nats_auth). */
  actor_nats_auth: NatsAuth;
  redis_url: string;
  /** Seed URLs of a Redis Cluster (PAYCORE_REDIS_CLUSTER_NODES); set: the cluster client,
   * and redis_url is not used. */
  redis_cluster_nodes: string[] | undefined;
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
  /** Commands one actor-host thread holds at once (core/constants.ts says why). */
  actor_commands_max: number;
  /** The deployment's money-out limits; a merchant's payout_limits override them (core/payouts). */
  payout_limits: PayoutLimits;
  http_host: string;
  http_port: number;
  /** Base URL providers reach the gateway's HTTP port at (for notify URLs). */
  public_url: string;
  workers: number;
  shards: number;
  channels: ChannelEntry[];
  /** 32 bytes, hex in the environment: seals payer elements in events (core/seal.ts). */
  data_key: Buffer;
  /** 32 bytes, hex in the environment: keys the derivation of payment and refund ids
   * (core/ids.ts), so nobody without it can compute an id from a merchant's order number. */
  id_key: IdKey;
  command_timeout_ms: number;
  /** A shard lease's time to live (workers/leases.ts): renewed every fifth of it; a dead
   * process's shards are claimed by another within about this plus a fifth. */
  lease_ttl_ms: number;
  query_backoff_ms: number[];
  refund_backoff_ms: number[];
  /** A payment on a profit-sharing channel paid this long ago with no finishing split is unfrozen (core/splits/unfreeze.ts). */
  split_unfreeze_after_ms: number;
  /** A refund's claim on a channel-split payment whose refund never came to exist is given back this long after (core/splits). */
  split_claim_orphan_after_ms: number;
  /** Follow-up queries of a split at the channel still PROCESSING before it is REQUIRES_MANUAL (core/splits). */
  split_stall_queries: number;
  /** Delays before each follow-up of a split (core/splits); the last repeats for one at the channel. */
  split_follow_up_ms: number[];
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
  /** How often the reconciliation schedule looks for a day to pull and reconcile (core/recon);
   * 0: never (an operator runs days with ReconService RerunDay). */
  recon_interval_ms: number;
}

/** The gRPC ports' certificate files (core/auth/tls.ts serves them). */
export interface TlsFiles {
  cert_file: string;
  key_file: string;
  /** PEM bundle: every CA whose client certificates are accepted (two during a CA rotation). */
  client_ca_file: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

/** A variable as the environment gives it: unset and empty both mean "not set". */
const unset = z.string().optional().transform((value) => (value === '' ? undefined : value));

/** Text with a default. */
function text(fallback: string) {
  return unset.pipe(z.string().default(fallback));
}

/** Text without a default. */
const required = unset.pipe(z.string({ error: 'is required' }));

function integerIn(min: number, max: number) {
  const bounds = { error: (issue: { input?: unknown }) => `must be between ${min} and ${max}, got ${String(issue.input)}` };
  return z.string()
    .regex(/^\d+$/, { error: (issue) => `must be a whole number, got '${String(issue.input)}'` })
    .transform(Number)
    .pipe(z.number().min(min, bounds).max(max, bounds));
}

/** A whole number from `min` to `max`, `fallback` when unset. */
function integer(fallback: number, min: number, max: number) {
  return unset.pipe(integerIn(min, max).default(fallback));
}

/** An amount in minor units, 1 to PostgreSQL's bigint, `fallback` when unset. */
function minorUnits(fallback: bigint) {
  const rule = (issue: { input?: unknown }) => `must be a whole number of minor units from 1 to ${minor_max}, got '${String(issue.input)}'`;
  return unset.pipe(z.string()
    .refine((raw) => /^[1-9][0-9]{0,18}$/.test(raw) && BigInt(raw) <= minor_max, { error: rule })
    .transform(BigInt)
    .default(fallback));
}

/** A URL of one of `schemes`, without a trailing slash. */
function urlOf(schemes: readonly string[]) {
  return z.string()
    .refine((value) => URL.canParse(value), { error: (issue) => `must be a URL, got '${String(issue.input)}'`, abort: true })
    .refine((value) => schemes.includes(new URL(value).protocol), { error: (issue) => `must use ${schemes.join(' or ')}, got '${new URL(String(issue.input)).protocol}'` })
    .transform((value) => value.replace(/\/$/, ''));
}

const redis_schemes = ['redis:', 'rediss:'];

/** A comma list of redis:// or rediss:// URLs (a cluster's seed nodes). */
const redis_url_list = z.string()
  .refine((raw) => raw.split(',').every((url) => URL.canParse(url.trim()) && redis_schemes.includes(new URL(url.trim()).protocol)), {
    error: (issue) => `must be a comma list of redis:// or rediss:// URLs, got '${String(issue.input)}'`,
  })
  .transform((raw) => raw.split(',').map((url) => url.trim().replace(/\/$/, '')));

/** A comma list of milliseconds, each at least `min_ms`. */
function backoffList(fallback: readonly number[], min_ms = 10) {
  return unset.pipe(z.string()
    .refine((raw) => raw.split(',').every((part) => /^\d+$/.test(part.trim()) && Number(part) >= min_ms), { error: (issue) => `must be a comma list of milliseconds ≥ ${min_ms}, got '${String(issue.input)}'` })
    .transform((raw) => raw.split(',').map(Number))
    .default([...fallback]));
}

/** A share from 0 to 0.5 (0, 1 or a decimal fraction as written). */
function share(fallback: number) {
  return unset.pipe(z.string()
    .refine((raw) => /^(0|1|0?\.\d+)$/.test(raw) && Number(raw) <= 0.5, { error: (issue) => `must be a share between 0 and 0.5, got '${String(issue.input)}'` })
    .transform(Number)
    .default(fallback));
}

const hex_key = required.pipe(z.string().regex(/^[0-9a-f]{64}$/i, { error: 'must be 64 hex characters (32 bytes)' }));

function timeZone(fallback: string) {
  return unset.pipe(z.string()
    .refine((zone) => {
      try {
        new Intl.DateTimeFormat('en', { timeZone: zone });
        return true;
      } catch {
        return false;
      }
    }, { error: (issue) => `must be an IANA time zone such as Asia/Shanghai, got '${String(issue.input)}'` })
    .default(fallback));
}

/** The error code of reading `file`, or undefined when it can be read. */
function unreadable(file: string): string | undefined {
  try {
    readFileSync(file);
    return undefined;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? 'error';
  }
}

/** Every variable paycore reads, with its default, form and bounds. */
const variables = z.object({
  NODE_ENV: unset,
  PAYCORE_PREFIX: text('paycore').pipe(z.string().regex(/^[a-z][a-z0-9_]{0,31}$/, { error: (issue) => `must be 1-32 of [a-z0-9_] starting with a letter, got '${String(issue.input)}'` })),
  PAYCORE_DATA_KEY: hex_key,
  PAYCORE_ID_KEY: hex_key,
  PAYCORE_NATS_URL: text('nats://127.0.0.1:4222'),
  PAYCORE_REDIS_URL: text('redis://127.0.0.1:6379/0').pipe(urlOf(redis_schemes)),
  PAYCORE_REDIS_CLUSTER_NODES: unset.pipe(redis_url_list.optional()),
  PAYCORE_REDIS_USERNAME: unset,
  PAYCORE_REDIS_PASSWORD: unset,
  PAYCORE_REDIS_TLS_CA_FILE: unset,
  PAYCORE_GRPC_HOST: text('127.0.0.1'),
  PAYCORE_GRPC_PORT: integer(50051, 0, 65535),
  PAYCORE_GRPC_INSECURE: unset.pipe(z.enum(['0', '1'], { error: (issue) => `must be 0 or 1, got '${String(issue.input)}'` }).optional()),
  PAYCORE_GRPC_TLS_CERT: unset,
  PAYCORE_GRPC_TLS_KEY: unset,
  PAYCORE_GRPC_CLIENT_CA: unset,
  PAYCORE_ADMIN_GRPC_HOST: unset,
  PAYCORE_ADMIN_GRPC_PORT: unset.pipe(integerIn(0, 65535).optional()),
  PAYCORE_WATCHES_PER_APP_MAX: integer(watches_per_app_max_default, 1, 1_000_000),
  PAYCORE_WATCHES_MAX: integer(watches_max_default, 1, 1_000_000),
  PAYCORE_WATCH_LIFETIME_MS: integer(watch_lifetime_ms_default, 1_000, 86_400_000),
  PAYCORE_ACTOR_COMMANDS_MAX: integer(actor_thread_commands_max_default, 1, 1_000_000),
  PAYCORE_HTTP_HOST: text('127.0.0.1'),
  PAYCORE_HTTP_PORT: integer(8080, 1, 65535),
  PAYCORE_PUBLIC_URL: unset.pipe(urlOf(['http:', 'https:']).optional()),
  PAYCORE_WORKERS: integer(Math.min(availableParallelism(), 64), 1, 64),
  PAYCORE_SHARDS: integer(64, 1, 4096),
  PAYCORE_CHANNELS_FILE: required,
  PAYCORE_COMMAND_TIMEOUT_MS: integer(command_timeout_ms_default, 100, 600_000),
  PAYCORE_LEASE_TTL_MS: integer(lease_ttl_ms_default, 1_000, 60_000),
  PAYCORE_QUERY_BACKOFF_MS: backoffList(query_backoff_ms_default),
  PAYCORE_REFUND_BACKOFF_MS: backoffList(refund_backoff_ms),
  PAYCORE_SPLIT_UNFREEZE_AFTER_MS: integer(28 * 24 * 3600 * 1000, 0, 180 * 24 * 3600 * 1000),
  PAYCORE_SPLIT_CLAIM_ORPHAN_AFTER_MS: integer(3600 * 1000, 0, 30 * 24 * 3600 * 1000),
  PAYCORE_SPLIT_STALL_QUERIES: integer(20, 1, 10_000),
  PAYCORE_SPLIT_FOLLOW_UP_MS: backoffList(split_follow_up_ms_default),
  PAYCORE_TIMER_RETRY_BACKOFF_MS: backoffList(timer_retry_backoff_ms_default),
  PAYCORE_EXPIRE_SECONDS_MIN: integer(expire_seconds_min_default, 1, 86_400),
  PAYCORE_LOG_LEVEL: text('info'),
  PAYCORE_STREAM_REPLICAS: integer(1, 1, 5),
  PAYCORE_ROUTING_FILE: unset,
  PAYCORE_NOTIFY_SCHEDULE_MS: backoffList(notify_schedule_ms_default, 0),
  PAYCORE_NOTIFY_TIMEOUT_MS: integer(notify_timeout_ms_default, 100, 60_000),
  // Kept as written (an empty list is ''): the text crosses to worker threads.
  PAYCORE_NOTIFY_ALLOW_HOSTS: z.string().default('').pipe(z.string().regex(/^[A-Za-z0-9.,:_ -]*$/, { error: 'must be a comma list of host names' })),
  PAYCORE_NOTIFY_ALLOW_CIDRS: z.string().default('').superRefine((cidrs, context) => {
    try {
      cidrRanges(cidrs);
    } catch (error) {
      context.addIssue({ code: 'custom', message: `must be a comma list of CIDR ranges: ${(error as Error).message}` });
    }
  }),
  PAYCORE_CIRCUIT_COOLDOWN_MS: integer(circuit_cooldown_ms_default, 100, 3_600_000),
  PAYCORE_CIRCUIT_VOLUME_MIN: integer(circuit_volume_min_default, 1, 100_000),
  PAYCORE_EXPLORATION_SHARE: share(exploration_share_default),
  PAYCORE_DATABASE_URL: unset.pipe(urlOf(['postgres:', 'postgresql:']).optional()),
  PAYCORE_LEDGER_TIMEZONE: timeZone('Asia/Shanghai'),
  PAYCORE_LEDGER_CUTOFF_INTERVAL_MS: integer(300_000, 0, 86_400_000),
  PAYCORE_RECON_INTERVAL_MS: integer(0, 0, 86_400_000),
  PAYCORE_MEMBER_WITHDRAWAL_MAX_MINOR: minorUnits(payout_limits_default.member_withdrawal_max_minor),
  PAYCORE_MEMBER_WITHDRAWAL_DAILY_MAX_MINOR: minorUnits(payout_limits_default.member_withdrawal_daily_max_minor),
  PAYCORE_TRANSFER_MAX_MINOR: minorUnits(payout_limits_default.transfer_max_minor),
  PAYCORE_TRANSFER_DAILY_MAX_MINOR: minorUnits(payout_limits_default.transfer_daily_max_minor),
});

type Variables = z.infer<typeof variables>;
type Context = z.RefinementCtx<Variables>;

/** An issue naming `variable`: `message` follows its name (or already starts with it). */
function fail(context: Context, variable: string | undefined, message: string): void {
  context.addIssue({ code: 'custom', path: variable === undefined ? [] : [variable], message });
}

function natsAuths(env: Env, context: Context): Pick<Config, 'nats_auth' | 'actor_nats_auth'> | undefined {
  try {
    const nats_auth = readNatsAuth(env, 'PAYCORE_NATS_') ?? { kind: 'none' };
    return { nats_auth, actor_nats_auth: readNatsAuth(env, 'PAYCORE_ACTOR_NATS_') ?? nats_auth };
  } catch (error) {
    // readNatsAuth's messages name the variable (and never the secret).
    fail(context, undefined, (error as Error).message);
    return undefined;
  }
}

/** A Redis Cluster's seed nodes: one scheme for all, and not as well as a single server's URL. */
function redisClusterNodes(env: Env, v: Variables, context: Context): string[] | undefined {
  const nodes = v.PAYCORE_REDIS_CLUSTER_NODES;
  if (nodes === undefined) return undefined;
  if (env.PAYCORE_REDIS_URL !== undefined && env.PAYCORE_REDIS_URL !== '') fail(context, 'PAYCORE_REDIS_CLUSTER_NODES', 'and PAYCORE_REDIS_URL are alternatives: set one');
  if (new Set(nodes.map((url) => new URL(url).protocol)).size > 1) fail(context, 'PAYCORE_REDIS_CLUSTER_NODES', 'must all be redis:// or all rediss://');
  return nodes;
}

function redisAuth(v: Variables, context: Context): RedisAuth {
  const { PAYCORE_REDIS_USERNAME: username, PAYCORE_REDIS_PASSWORD: password, PAYCORE_REDIS_TLS_CA_FILE: tls_ca_file } = v;
  if (username !== undefined && password === undefined) fail(context, 'PAYCORE_REDIS_USERNAME', 'needs PAYCORE_REDIS_PASSWORD');
  if (tls_ca_file !== undefined) {
    const url = v.PAYCORE_REDIS_CLUSTER_NODES?.[0] ?? v.PAYCORE_REDIS_URL;
    if (!url.startsWith('rediss:')) fail(context, 'PAYCORE_REDIS_TLS_CA_FILE', 'needs a rediss:// PAYCORE_REDIS_URL or PAYCORE_REDIS_CLUSTER_NODES');
    else {
      const code = unreadable(tls_ca_file);
      if (code !== undefined) fail(context, 'PAYCORE_REDIS_TLS_CA_FILE', `${tls_ca_file} cannot be read: ${code}`);
    }
  }
  return { username, password, tls_ca_file };
}

/** TLS files of the gRPC ports, or undefined behind the explicit development switch, which
 * production refuses outright: plaintext would expose every app key signature's request and
 * every payment to the network. */
/** The money-out limits; a per-item limit above its daily one is refused, naming it. */
function payoutLimits(v: Variables, context: Context): PayoutLimits {
  const pairs = [['PAYCORE_MEMBER_WITHDRAWAL_MAX_MINOR', 'PAYCORE_MEMBER_WITHDRAWAL_DAILY_MAX_MINOR'], ['PAYCORE_TRANSFER_MAX_MINOR', 'PAYCORE_TRANSFER_DAILY_MAX_MINOR']] as const;
  for (const [item, daily] of pairs) {
    if (v[item] > v[daily]) fail(context, item, `must not exceed ${daily} (${v[daily]})`);
  }
  return {
    member_withdrawal_max_minor: v.PAYCORE_MEMBER_WITHDRAWAL_MAX_MINOR, member_withdrawal_daily_max_minor: v.PAYCORE_MEMBER_WITHDRAWAL_DAILY_MAX_MINOR,
    transfer_max_minor: v.PAYCORE_TRANSFER_MAX_MINOR, transfer_daily_max_minor: v.PAYCORE_TRANSFER_DAILY_MAX_MINOR,
  };
}

function grpcTls(v: Variables, context: Context): TlsFiles | undefined {
  if (v.PAYCORE_GRPC_INSECURE === '1') {
    if (v.NODE_ENV === 'production') fail(context, 'PAYCORE_GRPC_INSECURE', 'PAYCORE_GRPC_INSECURE=1 (plaintext gRPC) is refused when NODE_ENV=production');
    return undefined;
  }
  const file = (name: 'PAYCORE_GRPC_TLS_CERT' | 'PAYCORE_GRPC_TLS_KEY' | 'PAYCORE_GRPC_CLIENT_CA'): string => {
    const value = v[name];
    if (value === undefined) fail(context, name, 'is required');
    else {
      const code = unreadable(value);
      if (code !== undefined) fail(context, name, `names ${value}, which cannot be read (${code})`);
    }
    return value ?? '';
  };
  return { cert_file: file('PAYCORE_GRPC_TLS_CERT'), key_file: file('PAYCORE_GRPC_TLS_KEY'), client_ca_file: file('PAYCORE_GRPC_CLIENT_CA') };
}

/** The configuration from the variables once each is valid: defaults that follow other
 * variables, rules that span several, and the channel file. */
function configOf(env: Env, v: Variables, context: Context): Config {
  if (v.PAYCORE_ID_KEY.toLowerCase() === v.PAYCORE_DATA_KEY.toLowerCase()) fail(context, 'PAYCORE_ID_KEY', 'must differ from PAYCORE_DATA_KEY');
  const public_url = v.PAYCORE_PUBLIC_URL ?? `http://${v.PAYCORE_HTTP_HOST}:${v.PAYCORE_HTTP_PORT}`;
  if (v.PAYCORE_PUBLIC_URL === undefined && !URL.canParse(public_url)) fail(context, 'PAYCORE_PUBLIC_URL', `must be a URL, got '${public_url}'`);
  let channels: ChannelEntry[] = [];
  try {
    channels = loadChannels(v.PAYCORE_CHANNELS_FILE);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    fail(context, undefined, error.message);
  }
  const nats = natsAuths(env, context) ?? { nats_auth: { kind: 'none' }, actor_nats_auth: { kind: 'none' } };
  return {
    nats_url: v.PAYCORE_NATS_URL,
    ...nats,
    redis_url: v.PAYCORE_REDIS_URL,
    redis_cluster_nodes: redisClusterNodes(env, v, context),
    redis_auth: redisAuth(v, context),
    prefix: v.PAYCORE_PREFIX,
    grpc_host: v.PAYCORE_GRPC_HOST,
    grpc_port: v.PAYCORE_GRPC_PORT,
    grpc_tls: grpcTls(v, context),
    admin_grpc_host: v.PAYCORE_ADMIN_GRPC_HOST ?? v.PAYCORE_GRPC_HOST,
    admin_grpc_port: v.PAYCORE_ADMIN_GRPC_PORT,
    watches_per_app_max: v.PAYCORE_WATCHES_PER_APP_MAX,
    watches_max: v.PAYCORE_WATCHES_MAX,
    watch_lifetime_ms: v.PAYCORE_WATCH_LIFETIME_MS,
    actor_commands_max: v.PAYCORE_ACTOR_COMMANDS_MAX,
    payout_limits: payoutLimits(v, context),
    http_host: v.PAYCORE_HTTP_HOST,
    http_port: v.PAYCORE_HTTP_PORT,
    public_url,
    workers: v.PAYCORE_WORKERS,
    shards: v.PAYCORE_SHARDS,
    channels,
    data_key: Buffer.from(v.PAYCORE_DATA_KEY, 'hex'),
    id_key: idKey(Buffer.from(v.PAYCORE_ID_KEY, 'hex')),
    command_timeout_ms: v.PAYCORE_COMMAND_TIMEOUT_MS,
    lease_ttl_ms: v.PAYCORE_LEASE_TTL_MS,
    query_backoff_ms: v.PAYCORE_QUERY_BACKOFF_MS,
    refund_backoff_ms: v.PAYCORE_REFUND_BACKOFF_MS,
    split_unfreeze_after_ms: v.PAYCORE_SPLIT_UNFREEZE_AFTER_MS,
    split_claim_orphan_after_ms: v.PAYCORE_SPLIT_CLAIM_ORPHAN_AFTER_MS,
    split_stall_queries: v.PAYCORE_SPLIT_STALL_QUERIES,
    split_follow_up_ms: v.PAYCORE_SPLIT_FOLLOW_UP_MS,
    timer_retry_backoff_ms: v.PAYCORE_TIMER_RETRY_BACKOFF_MS,
    expire_seconds_min: v.PAYCORE_EXPIRE_SECONDS_MIN,
    log_level: v.PAYCORE_LOG_LEVEL,
    stream_replicas: v.PAYCORE_STREAM_REPLICAS,
    routing_file: v.PAYCORE_ROUTING_FILE,
    notify_schedule_ms: v.PAYCORE_NOTIFY_SCHEDULE_MS,
    notify_timeout_ms: v.PAYCORE_NOTIFY_TIMEOUT_MS,
    notify_https_only: v.NODE_ENV === 'production',
    notify_allow_hosts: v.PAYCORE_NOTIFY_ALLOW_HOSTS,
    notify_allow_cidrs: v.PAYCORE_NOTIFY_ALLOW_CIDRS,
    circuit_cooldown_ms: v.PAYCORE_CIRCUIT_COOLDOWN_MS,
    circuit_volume_min: v.PAYCORE_CIRCUIT_VOLUME_MIN,
    exploration_share: v.PAYCORE_EXPLORATION_SHARE,
    database_url: v.PAYCORE_DATABASE_URL,
    ledger_timezone: v.PAYCORE_LEDGER_TIMEZONE,
    ledger_cutoff_interval_ms: v.PAYCORE_LEDGER_CUTOFF_INTERVAL_MS,
    recon_interval_ms: v.PAYCORE_RECON_INTERVAL_MS,
  };
}

/** One line per problem, each starting with the variable's name. */
function describe(issues: readonly z.core.$ZodIssue[]): string {
  return issues.map((issue) => {
    const variable = issue.path.map(String).join('.');
    return variable === '' || issue.message.startsWith(variable) ? issue.message : `${variable} ${issue.message}`;
  }).join('; ');
}

export function loadConfig(env: Env = process.env): Config {
  const parsed = variables.transform((v, context) => configOf(env, v, context)).safeParse(env);
  if (!parsed.success) throw new ConfigError(describe(parsed.error.issues));
  return parsed.data;
}

/** The payment products a channel may serve: the channel interface's ProductName
 * (channels/channel.ts) written again below it; the composition root hands these entries to
 * the adapters (workers/root/adapters.ts), where the compiler checks that the two agree. */
const products = [
  'WECHAT_NATIVE', 'WECHAT_JSAPI', 'WECHAT_APP', 'WECHAT_H5', 'ALIPAY_QR', 'ALIPAY_APP', 'ALIPAY_WAP',
  'ALIPAY_PC', 'UNIONPAY_QUICK', 'BANK_B2C', 'BANK_B2B', 'BARCODE',
] as const;

export type ChannelProduct = (typeof products)[number];

/** One entry of the channel file: what the composition root creates a channel adapter from
 * (the shape of channels/channel.ts ChannelConfig). */
export interface ChannelEntry {
  channel_id: string;
  provider: string;
  products: ChannelProduct[];
  /** Provider-specific settings (keys, ids, base URL), validated by the adapter's factory. */
  settings: Record<string, string>;
  /** How long CreatePayment waits for this channel's create (channels/channel.ts). */
  create_deadline_ms?: number;
}

const products_message = `must be a non-empty list of ${products.join(', ')}`;
const deadline_message = `must be an integer from ${create_deadline_ms_min} to ${create_deadline_ms_max}`;

/** One entry of the channel file. */
const channel_entry = z.object({
  channel_id: z.string({ error: 'must be 1-32 of [A-Za-z0-9_-]' }).regex(/^[A-Za-z0-9_-]{1,32}$/, { error: 'must be 1-32 of [A-Za-z0-9_-]' }),
  provider: z.string({ error: 'is required' }).min(1, { error: 'is required' }),
  products: z.array(z.enum(products, { error: products_message }), { error: products_message }).min(1, { error: products_message }),
  // Any object; an array's indices are its keys (as JSON objects' would be).
  settings: z.preprocess((value) => (Array.isArray(value) ? { ...value } : value), z.record(z.string(), z.string({ error: 'must be a string' }), { error: 'must be an object' })),
  create_deadline_ms: z.number({ error: deadline_message }).int({ error: deadline_message })
    .min(create_deadline_ms_min, { error: deadline_message }).max(create_deadline_ms_max, { error: deadline_message }).optional(),
}, { error: 'must be an object' });

const channel_file = z.array(z.unknown(), { error: 'must hold a JSON array' });

/** `<where>: <field> <message>` for an issue of an entry (array indices inside it left out). */
function entryProblem(where: string, issue: z.core.$ZodIssue): string {
  const field = issue.path.filter((key) => typeof key === 'string').join('.');
  return field === '' ? `${where} ${issue.message}` : `${where}: ${field} ${issue.message}`;
}

/** Reads the channel file: a JSON array of {channel_id, provider, products, settings}.
 * A setting written `file:<path>` is read from that file (relative to the channel file),
 * so keys stay in files with their own permissions. */
export function loadChannels(file: string): ChannelEntry[] {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`PAYCORE_CHANNELS_FILE ${file}: ${(error as Error).message}`);
  }
  const list = channel_file.safeParse(raw);
  if (!list.success) throw new ConfigError(`PAYCORE_CHANNELS_FILE ${file}: ${list.error.issues[0]!.message}`);
  const seen = new Set<string>();
  return list.data.map((value, index): ChannelEntry => {
    const where = `PAYCORE_CHANNELS_FILE ${file}: entry ${index}`;
    const entry = channel_entry.safeParse(value);
    if (!entry.success) throw new ConfigError(entry.error.issues.map((issue) => entryProblem(where, issue)).join('; '));
    const { channel_id, provider, products: served, settings, create_deadline_ms } = entry.data;
    if (seen.has(channel_id)) throw new ConfigError(`${where}: channel_id ${channel_id} appears twice`);
    seen.add(channel_id);
    const resolved: Record<string, string> = {};
    for (const [key, setting] of Object.entries(settings)) {
      resolved[key] = setting.startsWith('file:') ? readSetting(path.resolve(path.dirname(file), setting.slice(5)), `${where}: settings.${key}`) : setting;
    }
    const config: ChannelEntry = { channel_id, provider, products: served, settings: resolved };
    if (create_deadline_ms !== undefined) config.create_deadline_ms = create_deadline_ms;
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

