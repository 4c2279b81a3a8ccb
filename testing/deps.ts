// Private dependency servers for fault tests: a nats-server (JetStream, its own store dir)
// and a redis-server (nothing on disk, as deployed) on free loopback ports, which a test can
// stop and start again on the same port. The shared servers on 4222/6379 are never touched.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './stack';

/** How long a dependency server gets to accept connections after its start. */
const dependency_start_ms_max = 10_000;

export interface DependencyServer {
  url: string;
  port: number;
  /** Whether the process is running now. */
  readonly running: boolean;
  /** The process id while it runs (the bench reads its CPU time from /proc). */
  readonly pid: number | undefined;
  /** Starts it (again) on the same port; a NATS server keeps its JetStream store. */
  start(): Promise<void>;
  /** SIGKILL: what a crash or an OOM kill looks like to paycore. */
  kill(): Promise<void>;
  /** Stops it for good and removes its files. */
  close(): Promise<void>;
}

/** The path of a server's binary (Debian puts some under /usr/sbin). */
export function binary(name: string): string {
  for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/bin']) {
    const candidate = path.join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return name;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** A server process on `port` that can be started, SIGKILLed and started again. */
export function serverOf(port: number, url: string, dir: string, command: string, args: string[]): DependencyServer {
  let child: ChildProcess | undefined;
  let log = '';
  const server: DependencyServer = {
    url,
    port,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    get pid() {
      return server.running ? child?.pid : undefined;
    },
    async start() {
      if (server.running) return;
      log = '';
      child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      child.stdout!.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-8_192)));
      child.stderr!.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-8_192)));
      const deadline = Date.now() + dependency_start_ms_max;
      while (!(await listening(port))) {
        if (!server.running) throw new Error(`${command} exited at start:\n${log}`);
        if (Date.now() > deadline) throw new Error(`${command} did not listen on ${port} in ${dependency_start_ms_max} ms:\n${log}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async kill() {
      const running = child;
      if (running === undefined || !server.running) return;
      await new Promise<void>((resolve) => {
        running.once('exit', () => resolve());
        running.kill('SIGKILL');
      });
    },
    async close() {
      await server.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/** A private nats-server with JetStream on a free port; `config` (nats-server configuration
 * text, e.g. users and permissions) is added to its configuration file. */
export async function startPrivateNats(config = ''): Promise<DependencyServer> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'paycore-nats-'));
  const file = path.join(dir, 'nats.conf');
  writeFileSync(file, `${config}\n`);
  const server = serverOf(port, `nats://127.0.0.1:${port}`, dir, binary('nats-server'), ['-c', file, '-a', '127.0.0.1', '-p', String(port), '-js', '-sd', dir]);
  await server.start();
  return server;
}

/** A private redis-server on a free port that keeps nothing on disk (as deployed: a
 * restart empties it); `extra_args` are more redis-server options (e.g. ACL users; a function
 * of the port for options that name it, e.g. a TLS port instead of the plain one). */
export async function startPrivateRedis(extra_args: readonly string[] | ((port: number) => readonly string[]) = []): Promise<DependencyServer> {
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), 'paycore-redis-'));
  const server = serverOf(port, `redis://127.0.0.1:${port}/0`, dir, binary('redis-server'), [
    '--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no', '--dir', dir, ...(typeof extra_args === 'function' ? extra_args(port) : extra_args),
  ]);
  await server.start();
  return server;
}
