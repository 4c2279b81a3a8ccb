// Messages between the main thread and the actor-host threads: tagged unions; errors
// cross as name, message and stack.

import type { Config } from '../core/config';
import type { MetricsJson } from '../core/metrics';
import type { ActorReply, ActorRequest } from '../core/orders/protocol';
import type { ShardLease } from './leases';

export interface ActorHostData {
  config: Config;
  worker_index: number;
  worker_count: number;
}

export type ToWorker =
  | { type: 'stop' }
  | { type: 'metrics'; request_id: number }
  /** Whether every thread of the process is ready with its NATS link up: timer pumps fire
   * only then (a timer for a shard nobody holds is handed back, workers/timer-pump.ts). */
  | { type: 'pump'; open: boolean }
  /** The thread's shards this process holds now (workers/leases.ts), the whole set each time:
   * a shard missing from it is not served. */
  | { type: 'shards'; shards: ShardLease[] }
  /** A command of this process's gateway for one of the thread's shards, handed over the
   * thread's port instead of a NATS request (`trace`: the caller's trace context). */
  | { type: 'command'; id: number; request: ActorRequest; trace: Record<string, string> };

export type FromWorker =
  | { type: 'ready' }
  /** A request with a reply subject is in the worker's hands: answer it if the worker dies. */
  | { type: 'inflight'; reply: string }
  | { type: 'settled'; reply: string }
  | { type: 'stopped' }
  /** The thread's NATS link went down, or came back (its subscriptions registered again). */
  | { type: 'link'; up: boolean }
  /** Whether the thread's routing table can route (its Redis is up, its configuration loaded). */
  | { type: 'routable'; up: boolean }
  | { type: 'metrics'; request_id: number; metrics: MetricsJson }
  /** A shard no longer `accepting`: its subscription is drained and its commands in hand answered. */
  | { type: 'drained'; shard: number }
  /** The reply to a `command` handed over the port. */
  | { type: 'answer'; id: number; reply: ActorReply }
  | { type: 'fatal'; error: { name: string; message: string; stack?: string } };
