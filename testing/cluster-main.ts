// `make cluster`: paycore on more than one server, on this machine — a 3-node NATS JetStream
// cluster, a 3-master Redis Cluster, the sandbox PSP and two paycore processes of one
// deployment (testing/cluster.ts), on free loopback ports. Prints where each listens and the
// environment a paycore process of the deployment runs with; Ctrl-C (or SIGTERM) stops every
// process and server it started.

import { startClusterStack } from './cluster';

async function main(): Promise<void> {
  const processes = Number(process.env.PAYCORE_CLUSTER_PROCESSES ?? '2');
  const cluster = await startClusterStack(processes);
  const { stack } = cluster;
  const out = (line: string): boolean => process.stdout.write(`${line}\n`);
  out(`nats cluster:   ${cluster.nats.urls.join(' ')}  (JetStream, streams R3)`);
  out(`redis cluster:  ${cluster.redis.urls.join(' ')}  (3 masters)`);
  out(`sandbox PSP:    ${stack.sandbox.url}`);
  cluster.members.forEach((m, i) => out(`paycore #${i + 1}:     gRPC ${m.address} (TLS), pid ${m.process.pid}`));
  out(`prefix:         ${stack.prefix}`);
  out(`client certs:   CA ${stack.tls_files.ca_file}, cert ${stack.tls_files.cert_file}, key ${stack.tls_files.key_file}`);
  out('Ctrl-C stops everything.');
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    out('stopping…');
    cluster.stop().then(() => process.exit(0), (error: unknown) => {
      process.stderr.write(`stop failed: ${String(error)}\n`);
      process.exit(1);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
  process.exit(1);
});
