// Configuration: defaults from a minimal environment, and every bad value stopping startup
// with a ConfigError that names the variable (and, for the channel file, the entry and field).

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError, loadChannels, loadConfig } from './config';
import {
  command_timeout_ms_default, expire_seconds_min_default, query_backoff_ms_default, refund_backoff_ms, watch_lifetime_ms_default, watches_max_default,
  watches_per_app_max_default, actor_thread_commands_max_default,
} from './constants';
import { notify_schedule_ms_default, notify_timeout_ms_default, payout_limits_default } from './constants';

const data_key_hex = '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff';
const id_key_hex = 'ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100';
const channel = { channel_id: 'wx_main', provider: 'wechatpay', products: ['WECHAT_NATIVE', 'WECHAT_JSAPI'], settings: { mchid: '1900000109', base_url: 'https://api.mch.weixin.qq.com' } };

let dir: string;
let channels_file: string;
let tls: Record<string, string>;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'paycore-config-'));
  channels_file = writeChannels([channel]);
  // loadConfig checks the files are readable; their content is read by the TLS listener.
  tls = { PAYCORE_GRPC_TLS_CERT: writeChannels('cert', 'server.pem'), PAYCORE_GRPC_TLS_KEY: writeChannels('key', 'server.key'), PAYCORE_GRPC_CLIENT_CA: writeChannels('ca', 'ca.pem') };
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function writeChannels(entries: unknown, name = 'channels.json'): string {
  const file = path.join(dir, name);
  writeFileSync(file, typeof entries === 'string' ? entries : JSON.stringify(entries));
  return file;
}

function env(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return { PAYCORE_DATA_KEY: data_key_hex, PAYCORE_ID_KEY: id_key_hex, PAYCORE_CHANNELS_FILE: channels_file, ...tls, ...extra };
}

/** The ConfigError `run` throws; fails the test when it throws nothing or something else. */
function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).name).toBe('ConfigError');
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

describe('config', () => {
  test('config - a minimal environment gives the documented defaults', () => {
    const config = loadConfig(env());
    expect(config).toEqual({
      nats_url: 'nats://127.0.0.1:4222',
      nats_auth: { kind: 'none' },
      actor_nats_auth: { kind: 'none' },
      redis_url: 'redis://127.0.0.1:6379/0',
      redis_cluster_nodes: undefined,
      redis_auth: { username: undefined, password: undefined, tls_ca_file: undefined },
      prefix: 'paycore',
      grpc_host: '127.0.0.1',
      grpc_port: 50051,
      grpc_tls: { cert_file: tls.PAYCORE_GRPC_TLS_CERT, key_file: tls.PAYCORE_GRPC_TLS_KEY, client_ca_file: tls.PAYCORE_GRPC_CLIENT_CA },
      admin_grpc_host: '127.0.0.1',
      admin_grpc_port: undefined,
      watches_per_app_max: watches_per_app_max_default,
      watches_max: watches_max_default,
      watch_lifetime_ms: watch_lifetime_ms_default,
      actor_commands_max: actor_thread_commands_max_default,
      payout_limits: payout_limits_default,
      http_host: '127.0.0.1',
      http_port: 8080,
      public_url: 'http://127.0.0.1:8080',
      workers: availableParallelism(),
      shards: 64,
      channels: [channel],
      data_key: Buffer.from(data_key_hex, 'hex'),
      id_key: Buffer.from(id_key_hex, 'hex'),
      command_timeout_ms: command_timeout_ms_default,
      lease_ttl_ms: 5_000,
      query_backoff_ms: [...query_backoff_ms_default],
      refund_backoff_ms: [...refund_backoff_ms],
      split_unfreeze_after_ms: 28 * 24 * 3600 * 1000,
      split_claim_orphan_after_ms: 3600 * 1000,
      split_stall_queries: 20,
      split_follow_up_ms: [1_000, 2_000, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000],
      timer_retry_backoff_ms: [2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000, 300_000, 300_000, 300_000],
      routing_file: undefined,
      notify_schedule_ms: [...notify_schedule_ms_default],
      notify_timeout_ms: notify_timeout_ms_default,
      notify_https_only: false,
      notify_allow_hosts: '',
      notify_allow_cidrs: '',
      circuit_cooldown_ms: 30_000,
      circuit_volume_min: 20,
      exploration_share: 0.02,
      database_url: undefined,
      ledger_timezone: 'Asia/Shanghai',
      ledger_cutoff_interval_ms: 300_000,
      recon_interval_ms: 0,
      expire_seconds_min: expire_seconds_min_default,
      log_level: 'info',
      stream_replicas: 1,
    });
    expect(config.data_key).toHaveLength(32);
    expect(config.query_backoff_ms).toEqual([5_000, 15_000, 30_000, 60_000, 300_000, 1_800_000]);
  });

  test('config - set values are read, empty ones fall back to the default', () => {
    const config = loadConfig(env({
      PAYCORE_PREFIX: 'pay_eu1',
      PAYCORE_HTTP_HOST: '0.0.0.0',
      PAYCORE_HTTP_PORT: '9090',
      PAYCORE_GRPC_PORT: '0',
      PAYCORE_PUBLIC_URL: 'https://pay.example.com/',
      PAYCORE_WORKERS: '4',
      PAYCORE_QUERY_BACKOFF_MS: '100, 200,300',
      PAYCORE_LOG_LEVEL: '',
      PAYCORE_SHARDS: '',
    }));
    expect(config).toMatchObject({
      prefix: 'pay_eu1', http_host: '0.0.0.0', http_port: 9090, grpc_port: 0, public_url: 'https://pay.example.com',
      workers: 4, query_backoff_ms: [100, 200, 300], log_level: 'info', shards: 64,
    });
  });

  test.each([
    ['PAYCORE_HTTP_PORT', 'abc'],
    ['PAYCORE_HTTP_PORT', '0'],
    ['PAYCORE_HTTP_PORT', '65536'],
    ['PAYCORE_HTTP_PORT', '-1'],
    ['PAYCORE_HTTP_PORT', '80.5'],
    ['PAYCORE_GRPC_PORT', '70000'],
    ['PAYCORE_GRPC_PORT', '5005l'],
    ['PAYCORE_WORKERS', '0'],
    ['PAYCORE_WORKERS', '65'],
    ['PAYCORE_SHARDS', '4097'],
    ['PAYCORE_STREAM_REPLICAS', '6'],
    ['PAYCORE_COMMAND_TIMEOUT_MS', '99'],
    ['PAYCORE_PREFIX', 'PayCore'],
    ['PAYCORE_PREFIX', '1paycore'],
    ['PAYCORE_PREFIX', 'pay.core'],
    ['PAYCORE_PREFIX', 'p'.repeat(33)],
    ['PAYCORE_DATA_KEY', data_key_hex.slice(2)],
    ['PAYCORE_DATA_KEY', `${data_key_hex}00`],
    ['PAYCORE_DATA_KEY', `${data_key_hex.slice(1)}g`],
    ['PAYCORE_ID_KEY', id_key_hex.slice(2)],
    ['PAYCORE_ID_KEY', `${id_key_hex.slice(1)}g`],
    ['PAYCORE_ID_KEY', data_key_hex],
    ['PAYCORE_NOTIFY_ALLOW_CIDRS', '127.0.0.1/33'],
    ['PAYCORE_NOTIFY_ALLOW_CIDRS', '10.0.0.0/8,localhost'],
    ['PAYCORE_NOTIFY_ALLOW_HOSTS', 'a/b'],
    ['PAYCORE_NATS_USER', 'paycore'],
    ['PAYCORE_NATS_PASSWORD', 'secret-only'],
    ['PAYCORE_NATS_CREDS_FILE', '/nonexistent/paycore.creds'],
    ['PAYCORE_NATS_NKEY_SEED_FILE', '/nonexistent/paycore.nk'],
    ['PAYCORE_ACTOR_NATS_USER', 'actor'],
    ['PAYCORE_REDIS_USERNAME', 'paycore'],
    ['PAYCORE_REDIS_TLS_CA_FILE', '/nonexistent/ca.pem'],
    ['PAYCORE_QUERY_BACKOFF_MS', '5000,abc'],
    ['PAYCORE_QUERY_BACKOFF_MS', '5000,,30000'],
    ['PAYCORE_QUERY_BACKOFF_MS', '5000,9'],
    ['PAYCORE_QUERY_BACKOFF_MS', '5000;15000'],
    ['PAYCORE_QUERY_BACKOFF_MS', '1.5e4'],
    ['PAYCORE_REDIS_URL', 'http://127.0.0.1:6379'],
    ['PAYCORE_REDIS_URL', 'not a url'],
    ['PAYCORE_REDIS_CLUSTER_NODES', 'redis://127.0.0.1:7000,127.0.0.1:7001'],
    ['PAYCORE_REDIS_CLUSTER_NODES', 'redis://127.0.0.1:7000,http://127.0.0.1:7001'],
    ['PAYCORE_REDIS_CLUSTER_NODES', 'redis://127.0.0.1:7000,rediss://127.0.0.1:7001'],
    ['PAYCORE_PUBLIC_URL', 'ftp://pay.example.com'],
    ['PAYCORE_GRPC_INSECURE', 'yes'],
    ['PAYCORE_GRPC_TLS_CERT', '/nonexistent/server.pem'],
    ['PAYCORE_GRPC_CLIENT_CA', '/nonexistent/ca.pem'],
    ['PAYCORE_ADMIN_GRPC_PORT', '65536'],
    ['PAYCORE_WATCHES_PER_APP_MAX', '0'],
    ['PAYCORE_WATCH_LIFETIME_MS', '999'],
    ['PAYCORE_ACTOR_COMMANDS_MAX', '0'],
  ])('config - %s=%j is a ConfigError naming it', (name, value) => {
    const error = configError(() => loadConfig(env({ [name]: value })));
    expect(error.message.startsWith(`${name} `)).toBe(true);
  });

  test('config - every bad variable is reported at once, each named', () => {
    const message = configError(() => loadConfig(env({ PAYCORE_HTTP_PORT: 'abc', PAYCORE_WORKERS: '0', PAYCORE_DATA_KEY: undefined }))).message;
    expect(message.split('; ')).toEqual([
      'PAYCORE_DATA_KEY is required',
      "PAYCORE_HTTP_PORT must be a whole number, got 'abc'",
      'PAYCORE_WORKERS must be between 1 and 64, got 0',
    ]);
  });

  test.each(['PAYCORE_DATA_KEY', 'PAYCORE_ID_KEY', 'PAYCORE_CHANNELS_FILE'])('config - a missing %s is a ConfigError naming it', (name) => {
    expect(configError(() => loadConfig(env({ [name]: undefined }))).message).toBe(`${name} is required`);
    expect(configError(() => loadConfig(env({ [name]: '' }))).message).toBe(`${name} is required`);
  });

  test.each(['PAYCORE_GRPC_TLS_CERT', 'PAYCORE_GRPC_TLS_KEY', 'PAYCORE_GRPC_CLIENT_CA'])('config - without PAYCORE_GRPC_INSECURE=1, a missing %s is a ConfigError naming it', (name) => {
    expect(configError(() => loadConfig(env({ [name]: undefined }))).message).toBe(`${name} is required`);
  });

  test('config - PAYCORE_GRPC_INSECURE=1 serves plaintext without TLS files, and is refused when NODE_ENV=production', () => {
    const plain = { PAYCORE_GRPC_TLS_CERT: undefined, PAYCORE_GRPC_TLS_KEY: undefined, PAYCORE_GRPC_CLIENT_CA: undefined, PAYCORE_GRPC_INSECURE: '1' };
    expect(loadConfig(env(plain)).grpc_tls).toBeUndefined();
    expect(loadConfig(env({ ...plain, NODE_ENV: 'development' })).grpc_tls).toBeUndefined();
    const refused = configError(() => loadConfig(env({ ...plain, NODE_ENV: 'production' })));
    expect(refused.message).toMatch(/^PAYCORE_GRPC_INSECURE=1 .* refused when NODE_ENV=production/);
    // TLS files present do not make the switch acceptable in production either.
    expect(configError(() => loadConfig(env({ PAYCORE_GRPC_INSECURE: '1', NODE_ENV: 'production' }))).message).toMatch(/^PAYCORE_GRPC_INSECURE/);
  });

  test('config - a data key error does not echo the key', () => {
    const secretish = data_key_hex.slice(0, 62);
    expect(configError(() => loadConfig(env({ PAYCORE_DATA_KEY: secretish }))).message).not.toContain(secretish);
  });

  test('config - a channels file that does not exist is a ConfigError naming the variable and file', () => {
    const missing = path.join(dir, 'nope.json');
    const error = configError(() => loadConfig(env({ PAYCORE_CHANNELS_FILE: missing })));
    expect(error.message).toContain('PAYCORE_CHANNELS_FILE');
    expect(error.message).toContain(missing);
  });

  test.each([
    ['not JSON', '[{"channel_id": '],
    ['not an array', '{"channel_id": "wx_main"}'],
  ])('config - a channels file that is %s is a ConfigError', (_what, body) => {
    const file = writeChannels(body, 'bad.json');
    expect(configError(() => loadConfig(env({ PAYCORE_CHANNELS_FILE: file }))).message).toContain(`PAYCORE_CHANNELS_FILE ${file}`);
  });

  const other = { channel_id: 'ali_main', provider: 'alipay', products: ['ALIPAY_QR'], settings: {} };
  test.each([
    ['a duplicate channel_id', [channel, other, { ...other, provider: 'alipay2' }], 2, 'channel_id ali_main appears twice'],
    ['an unknown product', [channel, { ...other, products: ['ALIPAY_QR', 'PAYPAL'] }], 1, 'products'],
    ['no products', [{ ...channel, products: [] }], 0, 'products'],
    ['a non-string setting', [channel, { ...other, settings: { app_id: 2021000 } }], 1, 'settings.app_id must be a string'],
    ['a bad channel_id', [{ ...channel, channel_id: 'wx main' }], 0, 'channel_id'],
    ['no provider', [channel, { ...other, provider: '' }], 1, 'provider is required'],
    ['no settings object', [{ ...channel, settings: 'x' }], 0, 'settings must be an object'],
    ['an entry that is not an object', [channel, 'wx_main'], 1, 'must be an object'],
  ])('config - a channels file with %s names the entry index and field', (_what, entries, index, field) => {
    const file = writeChannels(entries, 'entries.json');
    const message = configError(() => loadConfig(env({ PAYCORE_CHANNELS_FILE: file }))).message;
    expect(message).toContain(`PAYCORE_CHANNELS_FILE ${file}: entry ${index}`);
    expect(message).toContain(field);
  });

  test('config - file: settings are read relative to the channels file, trimmed', () => {
    mkdirSync(path.join(dir, 'keys'));
    writeFileSync(path.join(dir, 'keys', 'wx_main.pem'), '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n\n');
    writeFileSync(path.join(dir, 'apiv3.key'), 'secret-v3-key\n');
    const file = writeChannels([{ ...channel, settings: { mchid: '1900000109', private_key: 'file:keys/wx_main.pem', api_v3_key: 'file:./apiv3.key' } }]);
    // Relative to the channels file, not to the process's working directory.
    expect(path.dirname(file)).not.toBe(process.cwd());
    const [loaded] = loadConfig(env({ PAYCORE_CHANNELS_FILE: file })).channels;
    expect(loaded!.settings).toEqual({
      mchid: '1900000109',
      private_key: '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----',
      api_v3_key: 'secret-v3-key',
    });
  });

  test('config - a channels file given by a relative path resolves file: settings beside it', () => {
    writeFileSync(path.join(dir, 'token.txt'), 'tok');
    const file = writeChannels([{ ...channel, settings: { token: 'file:token.txt' } }]);
    expect(loadChannels(path.relative(process.cwd(), file))[0]!.settings).toEqual({ token: 'tok' });
  });

  test('config - an unreadable file: setting names the entry and setting, not its contents', () => {
    const file = writeChannels([channel, { ...other, settings: { private_key: 'file:keys/missing.pem' } }]);
    const message = configError(() => loadConfig(env({ PAYCORE_CHANNELS_FILE: file }))).message;
    expect(message).toContain(`PAYCORE_CHANNELS_FILE ${file}: entry 1: settings.private_key: cannot read ${path.join(dir, 'keys', 'missing.pem')}: ENOENT`);
  });
});

describe('config credentials', () => {
  test('config - NATS credentials: one kind per role, the actor host defaulting to the gateway\'s', () => {
    const user = loadConfig(env({ PAYCORE_NATS_USER: 'gateway', PAYCORE_NATS_PASSWORD: 'pw-1' }));
    expect(user.nats_auth).toEqual({ kind: 'user', user: 'gateway', password: 'pw-1' });
    expect(user.actor_nats_auth).toEqual(user.nats_auth);
    const split = loadConfig(env({ PAYCORE_NATS_TOKEN: 't-1', PAYCORE_ACTOR_NATS_USER: 'actor', PAYCORE_ACTOR_NATS_PASSWORD: 'pw-2' }));
    expect(split.nats_auth).toEqual({ kind: 'token', token: 't-1' });
    expect(split.actor_nats_auth).toEqual({ kind: 'user', user: 'actor', password: 'pw-2' });
    expect(() => loadConfig(env({ PAYCORE_NATS_TOKEN: 't', PAYCORE_NATS_USER: 'u', PAYCORE_NATS_PASSWORD: 'p' }))).toThrow(/alternatives/);
    const seed = path.join(dir, 'user.nk');
    writeFileSync(seed, 'not a seed');
    expect(() => loadConfig(env({ PAYCORE_NATS_NKEY_SEED_FILE: seed }))).toThrow(/PAYCORE_NATS_NKEY_SEED_FILE .* user nkey seed/);
    const redis = loadConfig(env({ PAYCORE_REDIS_USERNAME: 'paycore', PAYCORE_REDIS_PASSWORD: 'pw-3' }));
    expect(redis.redis_auth).toEqual({ username: 'paycore', password: 'pw-3', tls_ca_file: undefined });
  });

  test('config - PAYCORE_REDIS_CLUSTER_NODES: the seed URLs of a Redis Cluster, instead of PAYCORE_REDIS_URL', () => {
    const config = loadConfig(env({ PAYCORE_REDIS_CLUSTER_NODES: 'redis://10.0.0.1:7000, redis://10.0.0.2:7000/' }));
    expect(config.redis_cluster_nodes).toEqual(['redis://10.0.0.1:7000', 'redis://10.0.0.2:7000']);
    const both = configError(() => loadConfig(env({ PAYCORE_REDIS_CLUSTER_NODES: 'redis://10.0.0.1:7000', PAYCORE_REDIS_URL: 'redis://10.0.0.9:6379' })));
    expect(both.message).toBe('PAYCORE_REDIS_CLUSTER_NODES and PAYCORE_REDIS_URL are alternatives: set one');
  });

  test('config - a credential error names the variable, never the secret', () => {
    const error = configError(() => loadConfig(env({ PAYCORE_NATS_PASSWORD: 'hunter2-secret' })));
    expect(error.message).toBe('PAYCORE_NATS_PASSWORD needs PAYCORE_NATS_USER');
  });
});


test('config - the books: PAYCORE_DATABASE_URL must be a postgres URL, the ledger time zone a real one', () => {
  expect(loadConfig(env()).database_url).toBeUndefined();
  expect(loadConfig(env({ PAYCORE_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/books' })).database_url).toBe('postgres://postgres@127.0.0.1:5432/books');
  expect(configError(() => loadConfig(env({ PAYCORE_DATABASE_URL: 'mysql://x/y' }))).message).toMatch(/PAYCORE_DATABASE_URL must use postgres: or postgresql:/);
  expect(configError(() => loadConfig(env({ PAYCORE_DATABASE_URL: 'not a url' }))).message).toMatch(/PAYCORE_DATABASE_URL must be a URL/);
  expect(loadConfig(env()).ledger_timezone).toBe('Asia/Shanghai');
  expect(configError(() => loadConfig(env({ PAYCORE_LEDGER_TIMEZONE: 'Mars/Olympus' }))).message).toMatch(/PAYCORE_LEDGER_TIMEZONE must be an IANA time zone/);
});

test('config - the money-out limits: the deployment defaults from the environment (minor units), each bad one named, a per-item limit never above its daily one', () => {
  expect(payout_limits_default).toEqual({
    member_withdrawal_max_minor: 5_000_000n, member_withdrawal_daily_max_minor: 20_000_000n,
    transfer_max_minor: 100_000_000n, transfer_daily_max_minor: 500_000_000n,
  });
  const config = loadConfig(env({
    PAYCORE_MEMBER_WITHDRAWAL_MAX_MINOR: '100000', PAYCORE_MEMBER_WITHDRAWAL_DAILY_MAX_MINOR: '300000',
    PAYCORE_TRANSFER_MAX_MINOR: '9223372036854775807', PAYCORE_TRANSFER_DAILY_MAX_MINOR: '9223372036854775807',
  }));
  expect(config.payout_limits).toEqual({
    member_withdrawal_max_minor: 100_000n, member_withdrawal_daily_max_minor: 300_000n,
    transfer_max_minor: 9_223_372_036_854_775_807n, transfer_daily_max_minor: 9_223_372_036_854_775_807n,
  });
  expect(loadConfig(env({ PAYCORE_TRANSFER_MAX_MINOR: '' })).payout_limits.transfer_max_minor).toBe(payout_limits_default.transfer_max_minor);
  const bad = configError(() => loadConfig(env({ PAYCORE_MEMBER_WITHDRAWAL_MAX_MINOR: '0', PAYCORE_TRANSFER_MAX_MINOR: '1.5', PAYCORE_TRANSFER_DAILY_MAX_MINOR: '9223372036854775808' }))).message;
  expect(bad.split('; ')).toEqual([
    "PAYCORE_MEMBER_WITHDRAWAL_MAX_MINOR must be a whole number of minor units from 1 to 9223372036854775807, got '0'",
    "PAYCORE_TRANSFER_MAX_MINOR must be a whole number of minor units from 1 to 9223372036854775807, got '1.5'",
    "PAYCORE_TRANSFER_DAILY_MAX_MINOR must be a whole number of minor units from 1 to 9223372036854775807, got '9223372036854775808'",
  ]);
  expect(configError(() => loadConfig(env({ PAYCORE_MEMBER_WITHDRAWAL_MAX_MINOR: '300001', PAYCORE_MEMBER_WITHDRAWAL_DAILY_MAX_MINOR: '300000' }))).message)
    .toBe('PAYCORE_MEMBER_WITHDRAWAL_MAX_MINOR must not exceed PAYCORE_MEMBER_WITHDRAWAL_DAILY_MAX_MINOR (300000)');
  expect(configError(() => loadConfig(env({ PAYCORE_TRANSFER_DAILY_MAX_MINOR: '99999999' }))).message)
    .toBe('PAYCORE_TRANSFER_MAX_MINOR must not exceed PAYCORE_TRANSFER_DAILY_MAX_MINOR (99999999)');
});
