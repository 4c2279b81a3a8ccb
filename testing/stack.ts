// Launches a full paycore stack on loopback for tests and benchmarks: a real sandbox PSP (HTTP,
// in this process), a real paycore process (node dist/workers/main.js) against the shared NATS and
// Redis, and a gRPC client. Every stack gets its own subject prefix and stream names, and
// deletes them when stopped. test/harness.ts re-exports this module; bench/run.ts uses it too,
// which is why it lives here (compiled by `npm run build`) and not under test/.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import {
  alipayChannelSettings, bankgwChannelSettings, ensureDevKeys, sandboxAlipayOptions, sandboxBankgwOptions, sandboxUnionpayOptions, sandboxWechatpayOptions,
  unionpayChannelSettings, wechatpayChannelSettings, type DevKeys,
} from './sandbox/keys';
import { startSandbox, type FaultSpec, type Sandbox } from './sandbox/server';
import { PaycoreClient } from './client';
import { idKey, paymentId, type IdKey } from '../core/ids';
import { ensureDevPki, type DevPki } from './dev/dev-certs';
import type * as grpc from '@grpc/grpc-js';
import { certAuth, channelCredentials, clientOptions, makeClient, type ClientAuth } from './auth-client';
import { app_roles } from '../core/routing/apps';
import { natsAuthOptions, readNatsAuth, redisClient, scanKeys, type NatsAuth, type RedisAuth, type RedisTarget } from '../core/connections';
import type * as grpc_types from '@grpc/grpc-js';

/** The repository root, from the sources (bench/) or from the compiled dist/bench/. */
export const repo_root = findRoot(__dirname);
export const nats_url = process.env.PAYCORE_NATS_URL ?? 'nats://127.0.0.1:4222';
export const redis_url = process.env.PAYCORE_REDIS_URL ?? 'redis://127.0.0.1:6379/0';

/** paycore's output kept once it is ready: enough for a crash report, bounded under load. */
const output_tail_chars_max = 64 * 1024;

function findRoot(start: string): string {
  let dir = start;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${start}`);
    dir = parent;
  }
  return dir;
}

export function uniquePrefix(): string {
  return `t${randomBytes(5).toString('hex')}`;
}

/** The kernel's ephemeral range (source ports of outgoing connections), read once. */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low !== undefined && high !== undefined && low > 0 && high >= low) return [low, high];
  } catch {
    // not Linux: the IANA dynamic range
  }
  return [49152, 65535];
}

/** Whether a listener can bind `port` on 127.0.0.1 now. */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A port for a process this kit starts, to listen on once it is up. Picked at random below the
 * kernel's ephemeral range: a port from listen(0) lies inside it, and an outgoing connection of
 * any process (NATS, Redis, PostgreSQL clients by the hundred in a suite) may take it as its
 * source port before the child binds it (EADDRINUSE, seen in CI).
 */
export async function freePort(): Promise<number> {
  const [low] = ephemeralRange();
  const floor = 10_000;
  const top = Math.max(floor + 1_000, low);
  for (let tries = 0; tries < 200; tries++) {
    const port = floor + Math.floor(Math.random() * (top - floor));
    if (await bindable(port)) return port;
  }
  throw new Error(`freePort: no bindable port in ${floor}..${top - 1} after 200 tries`);
}

export interface SandboxOrder {
  mchid: string;
  out_trade_no: string;
  transaction_id: string;
  trade_state: string;
  amount_total: number;
  create_requests: number;
}

export class PaycoreProcess {
  child: ChildProcess | undefined;
  output = '';
  grpc_port = 0;
  admin_grpc_port = 0;

  /** `node_args` go before the script (e.g. ['--cpu-prof', '--cpu-prof-dir=...']). */
  constructor(
    private readonly env: Record<string, string>,
    private readonly node_args: readonly string[] = [],
  ) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  // Generous: a loaded machine (a whole suite on two cores) can take well over 20 s to start.
  async start(timeout_ms = 45_000): Promise<void> {
    this.output = '';
    const script = path.join(repo_root, 'dist/workers/main.js');
    const child = spawn(process.execPath, [...this.node_args, script], { env: { ...process.env, ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let ready = false;
    const append = (chunk: Buffer): void => {
      this.output += chunk.toString();
      if (ready && this.output.length > output_tail_chars_max) this.output = this.output.slice(-output_tail_chars_max / 2);
    };
    child.stderr!.on('data', append);
    await new Promise<void>((resolve, reject) => {
      // A process that did not get ready is killed: nobody else would stop it.
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`paycore did not start in ${timeout_ms} ms:\n${this.output}`));
      }, timeout_ms);
      child.stdout!.on('data', (chunk: Buffer) => {
        append(chunk);
        if (ready) return;
        const line = /"grpc_port":(\d+),"admin_grpc_port":(\d+).*"msg":"paycore ready"/.exec(this.output);
        if (line !== null) {
          ready = true;
          this.grpc_port = Number(line[1]);
          this.admin_grpc_port = Number(line[2]);
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`paycore exited with ${code}:\n${this.output}`));
      });
    });
  }

  kill(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      child.once('exit', () => resolve());
      child.kill(signal);
    });
  }
}

export interface Stack {
  prefix: string;
  sandbox: Sandbox;
  paycore: PaycoreProcess;
  /** Authenticated as `stack_app` (every role, every merchant) with its client certificate. */
  client: PaycoreClient;
  /** The gRPC address clients connect to. */
  address: string;
  /** The stack's own CA and certificates. */
  pki: DevPki;
  /** The CA and `stack_app`'s certificate as files, for the bench driver's processes. */
  tls_files: { ca_file: string; cert_file: string; key_file: string };
  /** Client credentials of an app's certificate from the stack's CA (issued on first use). */
  auth(app_id?: string): ClientAuth;
  /** A grpc-js client of any service (admin services, health, reflection) on the stack's
   * address, authenticated as `auth` (default: the stack's app). Close it after use. */
  serviceClient<T extends grpc.Client>(definition: grpc.ServiceDefinition, name: string, auth?: ClientAuth): T;
  env: Record<string, string>;
  /** The stack's id key (PAYCORE_ID_KEY): tests derive expected ids with it. */
  id_key: IdKey;
  /** The payment id paycore derives for a merchant's order number. */
  paymentId(merchant_id: string, merchant_order_no: string): string;
  /** Restarts paycore on the same ports (after a kill) and reconnects the client. */
  restart(): Promise<void>;
  orders(out_trade_no_prefix: string): Promise<SandboxOrder[]>;
  pay(out_trade_no: string): Promise<Response>;
  fault(spec: FaultSpec): Promise<void>;
  stop(): Promise<void>;
}

/** A card bound through paycore and the sandbox's 开通 (BindCard, the texted code read from
 * the sandbox, ConfirmBinding): its token pays UNIONPAY_QUICK payments of the merchant. */
export async function bindTestCard(stack: Pick<Stack, 'client' | 'sandbox'>, merchant_id: string, payer_id = 'payer1'): Promise<string> {
  const no = randomBytes(6).toString('hex');
  const digits = String(BigInt(`0x${no}`) % 10_000_000_000n).padStart(10, '0');
  const binding = await stack.client.bindCard({
    merchantId: merchant_id, merchantBindingNo: `bind-${no}`, payerId: payer_id,
    card: { cardNo: `622202${digits}`, holderName: '张三', idNumber: '11010519491231002X', phone: '13800138000' },
  });
  const sms = (await (await fetch(`${stack.sandbox.url}/sandbox/unionpay/bindings?order_id=${binding.bindingId}`)).json()) as { sms_code: string };
  const bound = await stack.client.confirmBinding(merchant_id, binding.bindingId, sms.sms_code);
  if (bound.cardToken === '') throw new Error(`binding ${binding.bindingId} did not bind: ${bound.failureCode} ${bound.failureMessage}`);
  return bound.cardToken;
}

/** The app the stack's own client (and the bench driver) calls as: every role, every merchant. */
export const stack_app = 'it_admin';

/** Merchants the test and bench stacks contract on their channels. */
export const stack_merchants = ['m_it', 'm_sa', 'm_sb', 'm_smoke', 'm_rec', 'm_obs', 'm_ops', 'm_ref', 'm_pool', 'm_fail', 'bench', 'm_bench', 'demo_merchant'];

const payer_elements_required: Record<string, string[]> = {
  WECHAT_JSAPI: ['openid'], WECHAT_H5: ['client_ip'], BARCODE: ['auth_code'], UNIONPAY_QUICK: ['card_token'], BANK_B2C: ['bank_code'], BANK_B2B: ['bank_code'],
};

export const wechat_products = ['WECHAT_NATIVE', 'WECHAT_JSAPI', 'WECHAT_APP', 'WECHAT_H5', 'BARCODE'];
export const alipay_products = ['ALIPAY_QR', 'ALIPAY_APP', 'ALIPAY_WAP', 'ALIPAY_PC', 'BARCODE'];

/** The default table: one sandbox channel per provider, every stack merchant on all. */
export function defaultRouting(): Record<string, unknown> {
  return routingTable([
    sandboxRoute('wx1', wechat_products),
    sandboxRoute('ali1', alipay_products, { provider: 'alipay' }),
    sandboxRoute('up1', ['UNIONPAY_QUICK'], { provider: 'unionpay' }),
    sandboxRoute('bank1', ['BANK_B2C', 'BANK_B2B'], { provider: 'bankgw' }),
  ]);
}

/** A routing-table record for a sandbox channel: every product it serves, no caps. */
export function sandboxRoute(channel_id: string, products: string[], overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    channel_id,
    provider: 'wechatpay',
    state: 'ENABLED',
    products,
    currencies: ['CNY'],
    amount_min_minor: '1',
    amount_max_minor: '1000000000000',
    service_windows: { time_zone: 'Asia/Shanghai', open: [], closed: [] },
    required_payer_elements: Object.fromEntries(Object.entries(payer_elements_required).filter(([product]) => products.includes(product))),
    limits: {},
    fee: { rate_bp: 38, fixed_minor: '0', min_minor: '1' },
    priority: 0,
    weight: 1,
    ...overrides,
  };
}

export function routingTable(channels: Record<string, unknown>[], merchants: readonly string[] = stack_merchants): Record<string, unknown> {
  const channel_ids = channels.map((c) => c.channel_id as string);
  const products = [...new Set(channels.flatMap((c) => c.products as string[]))];
  return {
    version: 1,
    channels,
    merchants: merchants.map((merchant_id) => ({ merchant_id, products, channel_ids, fee_rates: {}, notify_secret: `notify-secret-of-${merchant_id}` })),
    apps: [{ app_id: stack_app, merchants: '*', roles: [...app_roles] }],
  };
}

export interface StackOptions {
  env?: Record<string, string>;
  /** The routing table applied at boot (default: channel wx1 for every stack merchant). */
  routing?: Record<string, unknown>;
  /** More sandbox WeChat Pay merchant ids (same keys), so channels can be told apart by
   * the sandbox's faults (scope.mchid). */
  sandbox_mchids?: string[];
  /** Extra channel-file entries (adapters), e.g. a second channel on the same sandbox: given the
   * sandbox's WeChat Pay settings, and every provider's. */
  extra_channels?: (settings: Record<string, string>, providers: { alipay: Record<string, string> }) => Record<string, unknown>[];
  channel_timeout_ms?: number;
  /** Every channel's create_deadline_ms (channels file); default paycore's. */
  create_deadline_ms?: number;
  /** Node.js flags for the paycore process (profiling). */
  node_args?: string[];
  /** The subject/stream/key prefix (default: a fresh one); a test that configures a server
   * for it (permissions) picks it first. */
  prefix?: string;
  /** A private NATS / Redis (fault tests, testing/deps.ts); default the shared servers.
   * nats_url may be a comma list (a cluster's seeds). */
  nats_url?: string;
  redis_url?: string;
  /** A Redis Cluster's seed URLs (testing/cluster.ts) instead of redis_url. */
  redis_cluster_nodes?: readonly string[];
  /** How long paycore gets to be ready (default 20 s; creating R3 streams takes longer). */
  start_timeout_ms?: number;
}

/** The servers a stack's paycore uses, with the credentials it is given (the stack cleans up
 * with them too, core/connections.ts). */
function stackUrls(options: StackOptions): Urls {
  const auth_env = { ...process.env, ...options.env };
  return {
    nats_url: options.nats_url ?? nats_url,
    redis_url: options.redis_url ?? redis_url,
    redis_cluster_nodes: options.redis_cluster_nodes,
    nats_auth: readNatsAuth(auth_env, 'PAYCORE_NATS_') ?? { kind: 'none' },
    redis_auth: {
      username: auth_env.PAYCORE_REDIS_USERNAME || undefined,
      password: auth_env.PAYCORE_REDIS_PASSWORD || undefined,
      tls_ca_file: auth_env.PAYCORE_REDIS_TLS_CA_FILE || undefined,
    },
  };
}

/** The sandbox PSP with every provider on the stack's keys. */
function startStackSandbox(keys: DevKeys, options: StackOptions): Promise<Sandbox> {
  const wechatpay = sandboxWechatpayOptions(keys);
  const base = wechatpay.merchants[0]!;
  wechatpay.merchants = [base, ...(options.sandbox_mchids ?? []).map((mchid) => ({ ...base, mchid }))];
  return startSandbox({
    port: 0,
    wechatpay,
    alipay: sandboxAlipayOptions(keys),
    unionpay: sandboxUnionpayOptions(keys),
    bankgw: sandboxBankgwOptions(keys),
    callback_retry_delays_ms: [100, 300],
  });
}

/** The channel file (one channel per provider on the sandbox, and the test's extra ones) and the
 * routing file, in `dir`. */
function writeStackFiles(dir: string, keys: DevKeys, sandbox_url: string, options: StackOptions): { channels_file: string; routing_file: string } {
  const timeout_ms = options.channel_timeout_ms ?? 5_000;
  const channels_file = path.join(dir, 'channels.json');
  writeFileSync(
    channels_file,
    JSON.stringify(
      [
      { channel_id: 'wx1', provider: 'wechatpay', products: wechat_products, settings: wechatpayChannelSettings(keys, sandbox_url, timeout_ms) },
      { channel_id: 'ali1', provider: 'alipay', products: alipay_products, settings: alipayChannelSettings(keys, sandbox_url, timeout_ms) },
      { channel_id: 'up1', provider: 'unionpay', products: ['UNIONPAY_QUICK'], settings: unionpayChannelSettings(keys, sandbox_url, timeout_ms) },
      { channel_id: 'bank1', provider: 'bankgw', products: ['BANK_B2C', 'BANK_B2B'], settings: bankgwChannelSettings(keys, sandbox_url, timeout_ms) },
      ...(options.extra_channels?.(wechatpayChannelSettings(keys, sandbox_url, timeout_ms), {
        alipay: alipayChannelSettings(keys, sandbox_url, timeout_ms),
      }) ?? []),
      ].map((c) => (options.create_deadline_ms === undefined ? c : { ...c, create_deadline_ms: options.create_deadline_ms })),
    ),
  );
  const routing_file = path.join(dir, 'routing.json');
  writeFileSync(routing_file, JSON.stringify(options.routing ?? defaultRouting()));
  return { channels_file, routing_file };
}

/** paycore's environment in a stack: its own prefix, files, certificates and keys. */
function stackEnv(
  prefix: string, urls: Urls, files: { channels_file: string; routing_file: string }, pki: DevPki, http_port: number, options: StackOptions,
): Record<string, string> {
  return {
    PAYCORE_PREFIX: prefix,
    PAYCORE_NATS_URL: urls.nats_url,
    ...(urls.redis_cluster_nodes === undefined ? { PAYCORE_REDIS_URL: urls.redis_url } : { PAYCORE_REDIS_URL: '', PAYCORE_REDIS_CLUSTER_NODES: urls.redis_cluster_nodes.join(',') }),
    PAYCORE_GRPC_PORT: '0',
    PAYCORE_HTTP_PORT: String(http_port),
    PAYCORE_CHANNELS_FILE: files.channels_file,
    PAYCORE_ROUTING_FILE: files.routing_file,
    PAYCORE_GRPC_TLS_CERT: pki.server_cert_file,
    PAYCORE_GRPC_TLS_KEY: pki.server_key_file,
    PAYCORE_GRPC_CLIENT_CA: pki.ca_file,
    PAYCORE_DATA_KEY: randomBytes(32).toString('hex'),
    PAYCORE_ID_KEY: randomBytes(32).toString('hex'),
    PAYCORE_WORKERS: '2',
    PAYCORE_SHARDS: '8',
    PAYCORE_LOG_LEVEL: 'info',
    PAYCORE_QUERY_BACKOFF_MS: '500,1000,2000',
    // Test merchants listen on loopback, which notifications otherwise never reach.
    PAYCORE_NOTIFY_ALLOW_HOSTS: 'localhost',
    PAYCORE_NOTIFY_ALLOW_CIDRS: '127.0.0.0/8,::1/128',
    ...options.env,
  };
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const prefix = options.prefix ?? uniquePrefix();
  const urls = stackUrls(options);
  const dir = mkdtempSync(path.join(tmpdir(), 'paycore-test-'));
  const keys = ensureDevKeys(path.join(dir, 'keys'));
  // Each stack its own CA: a test's certificates never work against another test's stack.
  const pki = ensureDevPki(path.join(dir, 'tls'), [stack_app]);
  const sandbox = await startStackSandbox(keys, options);
  const files = writeStackFiles(dir, keys, sandbox.url, options);
  const env = stackEnv(prefix, urls, files, pki, await freePort(), options);
  const paycore = new PaycoreProcess(env, options.node_args);
  try {
    await paycore.start(options.start_timeout_ms);
  } catch (error) {
    await sandbox.close();
    await deleteStreams(prefix, urls).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  env.PAYCORE_GRPC_PORT = String(paycore.grpc_port); // a restart binds the same port
  return stackHandle({ prefix, urls, dir, pki, sandbox, paycore, env, start_timeout_ms: options.start_timeout_ms });
}

/** The running stack as a test sees it: clients, the sandbox's controls, restart and stop. */
interface StackParts {
  prefix: string;
  urls: Urls;
  dir: string;
  pki: DevPki;
  sandbox: Sandbox;
  paycore: PaycoreProcess;
  env: Record<string, string>;
  start_timeout_ms: number | undefined;
}

function stackHandle(parts: StackParts): Stack {
  const { prefix, urls, dir, pki, sandbox, paycore, env, start_timeout_ms } = parts;
  const auth = (app_id = stack_app): ClientAuth => {
    const files = ensureDevPki(pki.dir, [app_id]).app(app_id);
    return certAuth(pki.ca_file, files.cert_file, files.key_file);
  };
  let grpc_port = paycore.grpc_port;
  const stack: Stack = {
    prefix,
    sandbox,
    paycore,
    client: new PaycoreClient(`127.0.0.1:${grpc_port}`, auth()),
    address: `127.0.0.1:${grpc_port}`,
    pki,
    tls_files: { ca_file: pki.ca_file, ...pki.app(stack_app) },
    auth,
    serviceClient: (definition, name, client_auth = auth()) => makeClient(definition, name, stack.address, client_auth),
    env,
    id_key: idKey(Buffer.from(env.PAYCORE_ID_KEY!, 'hex')),
    paymentId: (merchant_id, merchant_order_no) => paymentId(stack.id_key, merchant_id, merchant_order_no),
    async restart() {
      stack.client.close();
      await paycore.start(start_timeout_ms);
      grpc_port = paycore.grpc_port;
      stack.address = `127.0.0.1:${grpc_port}`;
      stack.client = new PaycoreClient(stack.address, auth());
    },
    async orders(out_trade_no_prefix) {
      const response = await fetch(`${sandbox.url}/sandbox/wechatpay/orders?out_trade_no_prefix=${out_trade_no_prefix}`);
      return ((await response.json()) as { orders: SandboxOrder[] }).orders;
    },
    pay: (out_trade_no) => fetch(`${sandbox.url}/sandbox/wechatpay/orders/${out_trade_no}/pay`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } }),
    async fault(spec) {
      const response = await fetch(`${sandbox.url}/sandbox/faults`, { method: 'PUT', body: JSON.stringify(spec), headers: { 'content-type': 'application/json' } });
      if (!response.ok) throw new Error(`sandbox refused the fault: ${response.status} ${await response.text()}`);
    },
    async stop() {
      stack.client.close();
      await paycore.kill('SIGTERM');
      await sandbox.close();
      await deleteStreams(prefix, urls);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return stack;
}

/** Deletes every stream of the prefix (events, timers, refund index, notifications, the
 * configuration bucket) and every Redis key of its routing table. */
interface Urls {
  nats_url: string;
  redis_url: string;
  /** A Redis Cluster's seed URLs instead of redis_url. */
  redis_cluster_nodes?: readonly string[];
  nats_auth?: NatsAuth;
  redis_auth?: RedisAuth;
}

export async function deleteStreams(prefix: string, urls: Urls = { nats_url, redis_url }): Promise<void> {
  const nc = await connect({ servers: urls.nats_url.split(','), ...natsAuthOptions(urls.nats_auth ?? { kind: 'none' }) });
  const jsm = await jetstreamManager(nc);
  const upper = `${prefix.toUpperCase()}_`;
  const mine: string[] = [];
  for await (const info of jsm.streams.list()) if (info.config.name.startsWith(upper) || info.config.name.startsWith(`KV_${upper}`)) mine.push(info.config.name);
  for (const stream of mine) await jsm.streams.delete(stream).catch(() => undefined);
  await nc.close();
  const target: RedisTarget = urls.redis_cluster_nodes === undefined ? { kind: 'single', url: urls.redis_url } : { kind: 'cluster', nodes: urls.redis_cluster_nodes };
  const auth = urls.redis_auth ?? { username: undefined, password: undefined, tls_ca_file: undefined };
  const redis = redisClient(target, auth, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    // One key per DEL: on a cluster the keys of one call must share a slot.
    for (const pattern of [`{${prefix}:*`, `${prefix}:*`]) for (const key of await scanKeys(redis, pattern, 1000)) await redis.del(key);
  } finally {
    redis.disconnect();
  }
}

/** Polls `probe` until it returns a value other than undefined, or fails after timeout_ms. */
export async function eventually<T>(probe: () => Promise<T | undefined>, timeout_ms: number, what: string): Promise<T> {
  const deadline = Date.now() + timeout_ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout_ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** grpc.health.v1 Check of one service at `address`: 'SERVING', 'NOT_SERVING', or the error.
 * `auth`: the stack's TLS (health needs no client identity, but the port is TLS). */
export async function healthStatus(address: string, auth: ClientAuth, service = 'paycore.v1.PaymentService'): Promise<string> {
  const grpc = await import('@grpc/grpc-js');
  const loader = await import('@grpc/proto-loader');
  const { protoPath } = (await import('grpc-health-check')) as unknown as { protoPath: string };
  type Check = grpc_types.Client & {
    check(
      request: { service: string },
      options: grpc_types.CallOptions,
      callback: (error: grpc_types.ServiceError | null, reply?: { status: string }) => void,
    ): void;
  };
  const definition = grpc.loadPackageDefinition(loader.loadSync(protoPath, { keepCase: true, enums: String })) as unknown as {
    grpc: { health: { v1: { Health: new (address: string, credentials: grpc_types.ChannelCredentials, options: grpc_types.ClientOptions) => Check } } };
  };
  const client = new definition.grpc.health.v1.Health(
    address,
    channelCredentials({ ca: auth.ca, server_name: auth.server_name }),
    clientOptions({ server_name: auth.server_name }),
  );
  try {
    return await new Promise<string>((resolve) =>
      client.check({ service }, { deadline: Date.now() + 5_000 }, (error, reply) => resolve(error ? `error ${error.code}` : String(reply?.status))),
    );
  } finally {
    client.close();
  }
}
