// Messages between the main thread and the actor-host threads: tagged unions; errors
// cross as name, message and stack.

import type { Config } from '../core/config';
import type { MetricsJson } from '../core/metrics';

export interface ActorHostData {
  config: Config;
  worker_index: number;
  worker_count: number;
}

export type ToWorker = { type: 'stop' } | { type: 'metrics'; request_id: number };

export type FromWorker =
  | { type: 'ready' }
  /** A request with a reply subject is in the worker's hands: answer it if the worker dies. */
  | { type: 'inflight'; reply: string }
  | { type: 'settled'; reply: string }
  | { type: 'stopped' }
  | { type: 'metrics'; request_id: number; metrics: MetricsJson }
  | { type: 'fatal'; error: { name: string; message: string; stack?: string } };
