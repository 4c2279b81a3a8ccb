// A NATS JetStream cluster and a Redis Cluster on loopback, for `make cluster`, the cluster
// chaos suite (test/cluster.test.ts) and anyone trying paycore on more than one server: three
// nats-server nodes (JetStream clustered, routes between them, one store directory each) and
// three Redis Cluster masters (no replicas, nothing on disk but each node's cluster
// configuration, so a restarted master comes back empty with its slots). Every port is a free
// one; the shared servers on 4222/6379 are never touched.

import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { PaycoreClient } from './client';
import { binary, serverOf, type DependencyServer } from './deps';
import { freePort, PaycoreProcess, startStack, type Stack, type StackOptions } from './stack';

const run = promisify(execFile);

/** How long a cluster gets to elect its leaders / cover its slots after a start. */
const cluster_ready_ms_max = 30_000;
/** How long a paycore process gets to be ready: its streams and buckets are created at R3,
 * each a round of the cluster's consensus (slow on a loaded machine). */
const paycore_start_ms_max = 60_000;

export interface ServerCluster {
  nodes: DependencyServer[];
  /** Client URLs of every node. */
  urls: string[];
  /** Waits until the cluster serves again (a node restarted: quorum, slots covered). */
  ready(): Promise<void>;
  close(): Promise<void>;
}

async function until(what: string, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + cluster_ready_ms_max;
  let last: unknown;
  for (;;) {
    try {
      if (await probe()) return;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${what} not ready in ${cluster_ready_ms_max} ms${last === undefined ? '' : `: ${String(last)}`}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** `size` nats-server nodes in one JetStream cluster; ready once JetStream answers (a meta
 * leader is elected). */
export async function startNatsCluster(size = 3): Promise<ServerCluster> {
  const dir = mkdtempSync(path.join(tmpdir(), 'paycore-natsc-'));
  const ports = await Promise.all(Array.from({ length: size }, async () => ({ client: await freePort(), route: await freePort() })));
  const routes = ports.map((p) => `nats://127.0.0.1:${p.route}`).join(', ');
  const nodes = ports.map((p, i) => {
    const node_dir = path.join(dir, `n${i + 1}`);
    const file = path.join(dir, `n${i + 1}.conf`);
    writeFileSync(file, [
      `server_name: n${i + 1}`,
      `listen: 127.0.0.1:${p.client}`,
      `jetstream { store_dir: "${node_dir}" }`,
      `cluster { name: paycore; listen: 127.0.0.1:${p.route}; routes: [${routes}] }`,
      '',
    ].join('\n'));
    return serverOf(p.client, `nats://127.0.0.1:${p.client}`, node_dir, binary('nats-server'), ['-c', file]);
  });
  const cluster: ServerCluster = {
    nodes,
    urls: nodes.map((n) => n.url),
    async ready() {
      await until('NATS JetStream cluster', async () => {
        const nc = await connect({ servers: nodes.filter((n) => n.running).map((n) => n.url), timeout: 2_000 });
        try {
          const jsm = await jetstreamManager(nc, { timeout: 2_000 });
          await jsm.getAccountInfo();
          return true;
        } finally {
          await nc.close();
        }
      });
    },
    async close() {
      for (const node of nodes) await node.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(nodes.map((n) => n.start()));
    await cluster.ready();
  } catch (error) {
    await cluster.close();
    throw error;
  }
  return cluster;
}

/** `size` Redis Cluster masters, no replicas, created with redis-cli --cluster create. A
 * master that is down leaves only its own slots unserved (cluster-require-full-coverage no). */
export async function startRedisCluster(size = 3): Promise<ServerCluster> {
  const dir = mkdtempSync(path.join(tmpdir(), 'paycore-redisc-'));
  const ports = await Promise.all(Array.from({ length: size }, async () => ({ client: await freePort(), bus: await freePort() })));
  const nodes = ports.map((p, i) => {
    const node_dir = path.join(dir, `r${i + 1}`);
    mkdirSync(node_dir);
    return serverOf(p.client, `redis://127.0.0.1:${p.client}`, node_dir, binary('redis-server'), [
      '--bind', '127.0.0.1', '--port', String(p.client), '--cluster-enabled', 'yes', '--cluster-port', String(p.bus),
      '--cluster-config-file', path.join(node_dir, 'nodes.conf'), '--cluster-node-timeout', '2000', '--cluster-require-full-coverage', 'no',
      '--save', '', '--appendonly', 'no', '--dir', node_dir,
    ]);
  });
  const cli = binary('redis-cli');
  const cluster: ServerCluster = {
    nodes,
    urls: nodes.map((n) => n.url),
    async ready() {
      await until('Redis Cluster', async () => {
        for (const node of nodes) {
          const { stdout } = await run(cli, ['-p', String(node.port), 'cluster', 'info']);
          if (!stdout.includes('cluster_state:ok') || !stdout.includes(`cluster_known_nodes:${size}`) || !stdout.includes('cluster_slots_assigned:16384')) return false;
        }
        return true;
      });
    },
    async close() {
      for (const node of nodes) await node.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await Promise.all(nodes.map((n) => n.start()));
    await run(cli, ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes']);
    await cluster.ready();
  } catch (error) {
    await cluster.close();
    throw error;
  }
  return cluster;
}

/** One paycore process of a cluster stack and a client of its gRPC port. */
export interface ClusterMember {
  process: PaycoreProcess;
  client: PaycoreClient;
  readonly address: string;
  /** Starts it again on the same ports (after a kill) and reconnects the client. */
  restart(): Promise<void>;
}

export interface ClusterStack {
  nats: ServerCluster;
  redis: ServerCluster;
  /** The first process's stack (sandbox, prefix, keys, certificates); members[0] is its process. */
  stack: Stack;
  members: ClusterMember[];
  stop(): Promise<void>;
}

function member(stack: Stack, process: PaycoreProcess, env: Record<string, string>): ClusterMember {
  const m: ClusterMember = {
    process,
    client: new PaycoreClient(`127.0.0.1:${process.grpc_port}`, stack.auth()),
    get address() {
      return `127.0.0.1:${process.grpc_port}`;
    },
    async restart() {
      m.client.close();
      await process.start(paycore_start_ms_max);
      env.PAYCORE_GRPC_PORT = String(process.grpc_port);
      m.client = new PaycoreClient(m.address, stack.auth());
    },
  };
  return m;
}

/** A 3-node NATS cluster, a 3-master Redis Cluster, the sandbox PSP and `processes` paycore
 * processes of one deployment (one prefix, streams with PAYCORE_STREAM_REPLICAS=3), each with
 * its own gRPC and callback ports. `stop()` stops every process and server it started. */
export async function startClusterStack(processes = 2, options: StackOptions = {}): Promise<ClusterStack> {
  const nats = await startNatsCluster();
  let redis: ServerCluster | undefined;
  let stack: Stack | undefined;
  const extra: PaycoreProcess[] = [];
  const stop = async (): Promise<void> => {
    for (const p of extra) await p.kill('SIGTERM');
    for (const node of [...nats.nodes, ...(redis?.nodes ?? [])]) if (!node.running) await node.start().catch(() => undefined);
    await stack?.stop().catch(() => undefined);
    await redis?.close();
    await nats.close();
  };
  try {
    redis = await startRedisCluster();
    stack = await startStack({ ...options, nats_url: nats.urls.join(','), redis_cluster_nodes: redis.urls, start_timeout_ms: paycore_start_ms_max, env: { PAYCORE_STREAM_REPLICAS: '3', ...options.env } });
    stack.env.PAYCORE_GRPC_PORT = String(stack.paycore.grpc_port);
    const members = [member(stack, stack.paycore, stack.env)];
    for (let i = 1; i < processes; i += 1) {
      const env = { ...stack.env, PAYCORE_GRPC_PORT: '0', PAYCORE_HTTP_PORT: String(await freePort()) };
      const process = new PaycoreProcess(env);
      extra.push(process);
      await process.start(paycore_start_ms_max);
      env.PAYCORE_GRPC_PORT = String(process.grpc_port);
      members.push(member(stack, process, env));
    }
    return {
      nats, redis, stack, members,
      async stop() {
        for (const m of members) m.client.close();
        await stop();
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
