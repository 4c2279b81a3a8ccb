// Integration harness: a real sandbox PSP (HTTP on loopback), a real paycore process
// (node dist/core/main.js) against the shared NATS and Redis, and a gRPC client. Every run
// gets its own subject prefix and stream names, and deletes them afterwards.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { ensureDevKeys, sandboxWechatpayOptions, wechatpayChannelSettings } from '../channels/sandbox/keys';
import { startSandbox, type FaultSpec, type Sandbox } from '../channels/sandbox/server';
import { PaycoreClient } from '../core/cli/client';
import { names } from '../core/names';

const root = path.resolve(__dirname, '..');
export const nats_url = process.env.PAYCORE_NATS_URL ?? 'nats://127.0.0.1:4222';

export function uniquePrefix(): string {
  return `t${randomBytes(5).toString('hex')}`;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
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

  constructor(private readonly env: Record<string, string>) {}

  async start(timeout_ms = 20_000): Promise<void> {
    this.output = '';
    const child = spawn(process.execPath, [path.join(root, 'dist/core/main.js')], { env: { ...process.env, ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`paycore did not start in ${timeout_ms} ms:\n${this.output}`)), timeout_ms);
      const onData = (chunk: Buffer): void => {
        this.output += chunk.toString();
        const ready = /"grpc_port":(\d+).*"msg":"paycore ready"/.exec(this.output);
        if (ready !== null) {
          this.grpc_port = Number(ready[1]);
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
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
  client: PaycoreClient;
  env: Record<string, string>;
  /** Restarts paycore on the same ports (after a kill) and reconnects the client. */
  restart(): Promise<void>;
  orders(out_trade_no_prefix: string): Promise<SandboxOrder[]>;
  pay(out_trade_no: string): Promise<Response>;
  fault(spec: FaultSpec): Promise<void>;
  stop(): Promise<void>;
}

export interface StackOptions {
  env?: Record<string, string>;
  channel_timeout_ms?: number;
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const prefix = uniquePrefix();
  const dir = mkdtempSync(path.join(tmpdir(), 'paycore-test-'));
  const keys = ensureDevKeys(path.join(dir, 'keys'));
  const sandbox = await startSandbox({ port: 0, wechatpay: sandboxWechatpayOptions(keys), callback_retry_delays_ms: [100, 300] });
  const channels_file = path.join(dir, 'channels.json');
  writeFileSync(
    channels_file,
    JSON.stringify([
      {
        channel_id: 'wx1',
        provider: 'wechatpay',
        products: ['WECHAT_NATIVE', 'WECHAT_JSAPI', 'WECHAT_APP', 'WECHAT_H5'],
        settings: wechatpayChannelSettings(keys, sandbox.url, options.channel_timeout_ms ?? 5_000),
      },
    ]),
  );
  const http_port = await freePort();
  const env: Record<string, string> = {
    PAYCORE_PREFIX: prefix,
    PAYCORE_NATS_URL: nats_url,
    PAYCORE_GRPC_PORT: '0',
    PAYCORE_HTTP_PORT: String(http_port),
    PAYCORE_CHANNELS_FILE: channels_file,
    PAYCORE_DATA_KEY: randomBytes(32).toString('hex'),
    PAYCORE_WORKERS: '2',
    PAYCORE_SHARDS: '8',
    PAYCORE_LOG_LEVEL: 'info',
    PAYCORE_QUERY_BACKOFF_MS: '500,1000,2000',
    ...options.env,
  };
  const paycore = new PaycoreProcess(env);
  await paycore.start();
  let grpc_port = paycore.grpc_port;
  env.PAYCORE_GRPC_PORT = String(grpc_port); // a restart binds the same port
  const stack: Stack = {
    prefix,
    sandbox,
    paycore,
    client: new PaycoreClient(`127.0.0.1:${grpc_port}`),
    env,
    async restart() {
      stack.client.close();
      await paycore.start();
      grpc_port = paycore.grpc_port;
      stack.client = new PaycoreClient(`127.0.0.1:${grpc_port}`);
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
      await deleteStreams(prefix);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return stack;
}

export async function deleteStreams(prefix: string): Promise<void> {
  const nc = await connect({ servers: nats_url });
  const jsm = await jetstreamManager(nc);
  const n = names(prefix);
  for (const stream of [n.events_stream, n.timers_stream]) {
    await jsm.streams.delete(stream).catch(() => undefined);
  }
  await nc.close();
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
