// An actor-host worker thread's entry: everything it runs is built by the composition root
// (workers/root/actor-host.ts, runActorHost). Loaded as compiled JavaScript by workers/pool.ts.

import { parentPort, workerData } from 'node:worker_threads';
import type { ActorHostData } from './messages';
import { reportFatal, runActorHost } from './root/actor-host';

const port = parentPort;
if (port === null) throw new Error('actor-host must run as a worker thread');

runActorHost(port, workerData as ActorHostData).catch((error: Error) => {
  reportFatal(port, error);
  process.exit(1);
});
