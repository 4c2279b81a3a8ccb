// Messages between the main thread and the actor-host threads: tagged unions; errors
// cross as name, message and stack.

import type { Config } from '../core/config';
import type { MetricsJson } from '../core/metrics';

export interface ActorHostData {
  config: Config;
  worker_index: number;
  worker_count: number;
}

export type ToWorker =
  | { type: 'stop' }
  | { type: 'metrics'; request_id: number }
  /** Whether every shard has a subscriber now (every thread ready, its NATS link up and its
   * subscriptions registered): timer pumps fire only then. */
  | { type: 'pump'; open: boolean };

export type FromWorker =
  | { type: 'ready' }
  /** A request with a reply subject is in the worker's hands: answer it if the worker dies. */
  | { type: 'inflight'; reply: string }
  | { type: 'settled'; reply: string }
  | { type: 'stopped' }
  /** The thread's NATS link went down, or came back with its subscriptions registered again. */
  | { type: 'link'; up: boolean }
  /** Whether the thread's routing table can route (its Redis is up, its configuration loaded). */
  | { type: 'routable'; up: boolean }
  | { type: 'metrics'; request_id: number; metrics: MetricsJson }
  | { type: 'fatal'; error: { name: string; message: string; stack?: string } };
