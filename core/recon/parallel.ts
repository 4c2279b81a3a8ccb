// Reconciliation on a piscina worker pool: every source (the channel's statement, our books'
// rows, the pool of earlier days) is put in shared memory once; `split` tasks cut each into
// byte ranges and list their rows' offsets per shard (rows of one group always in one shard);
// `match` tasks match a shard each. The matcher's result does not depend on the sharding
// (core/recon/match.test.ts), so the merged result is what one thread would compute.

import path from 'node:path';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import Piscina from 'piscina';
import { assert } from '../errors';
import type { RowFormat } from './format';
import { lineRanges } from './format';
import { addTotals, emptyTotals, type MatchResult } from './types';
import type { MatchTask, ReconTask, ShardSource, SplitTask } from './worker';

export interface RowSource {
  bytes: Uint8Array | SharedArrayBuffer;
  format: RowFormat;
  /** The business date of a statement's rows (recon rows carry their own). */
  date: string;
}

export interface ReconPoolOptions {
  /** Worker threads (default: the machine's parallelism). */
  threads?: number;
  /** Shards per thread: more evens out the load, fewer costs less per task (4). */
  shards_per_thread?: number;
}

/** The compiled worker: beside this file in dist/, or dist/ when running the sources. */
function workerFile(): string {
  for (const candidate of [path.join(__dirname, 'worker.js'), path.resolve(__dirname, '../../dist/core/recon/worker.js')]) {
    if (existsSync(candidate)) return candidate;
  }
  throw new Error('recon: compiled worker not found (npm run build)');
}

/** Decoding allocates a few short-lived strings per row: a young generation larger than
 * V8's default keeps most of them from being copied before they die. */
const young_generation_mb = 64;
/** Threads start with the first run and end after a minute without one (a run a day). */
const thread_idle_ms = 60_000;

export class ReconPool {
  readonly threads: number;
  readonly shards: number;
  readonly #piscina: Piscina<ReconTask, Uint32Array[] | MatchResult>;
  readonly #runs = new Set<Promise<MatchResult>>();
  #in_flight = 0;
  #closing = false;

  constructor(options: ReconPoolOptions = {}) {
    this.threads = options.threads ?? availableParallelism();
    assert(Number.isInteger(this.threads) && this.threads >= 1, `recon: threads ${this.threads}`);
    this.shards = this.threads * (options.shards_per_thread ?? 4);
    this.#piscina = new Piscina({
      filename: workerFile(),
      minThreads: 0,
      maxThreads: this.threads,
      idleTimeout: thread_idle_ms,
      resourceLimits: { maxYoungGenerationSizeMb: young_generation_mb },
    });
  }

  /** Tasks of this pool queued or running on a thread (0 whenever no run is under way). */
  get tasks_in_flight(): number {
    return this.#in_flight;
  }

  /** Waits for the runs under way to settle, then ends the threads. Destroying piscina with a
   * task in flight fails it, and a result the thread had already posted then reaches a pool
   * that no longer knows the task: an 'error' event ("Unexpected message from Worker"). */
  async close(): Promise<void> {
    this.#closing = true;
    await Promise.allSettled(this.#runs);
    await this.#piscina.destroy();
  }

  /** Matches the sources for `day`; the result is merged over every shard. It settles only once
   * every task it started has settled (a failed shard fails the run after its siblings end). */
  reconcile(day: string, sources: readonly RowSource[], pool_days: number): Promise<MatchResult> {
    const run = this.#reconcile(day, sources, pool_days);
    this.#runs.add(run);
    const forget = () => this.#runs.delete(run);
    run.then(forget, forget);
    return run;
  }

  async #reconcile(day: string, sources: readonly RowSource[], pool_days: number): Promise<MatchResult> {
    assert(!this.#closing, 'recon: the pool is closed');
    const shared = sources.map((source) => ({ ...source, bytes: toShared(source.bytes) }));
    const offsets = await allSettled(shared.map((source) => this.#split(source.bytes, source.format)));
    const results = await allSettled(
      Array.from({ length: this.shards }, (_, shard) => {
        const task: MatchTask = {
          type: 'match', day, pool_days,
          sources: shared.map((source, index): ShardSource => ({
            bytes: source.bytes, format: source.format, date: source.date, offsets: offsets[index]![shard]!,
          })),
        };
        return this.#run(task, task.sources.map((s) => s.offsets.buffer as ArrayBuffer)) as Promise<MatchResult>;
      }),
    );
    const merged: MatchResult = { totals: emptyTotals(), differences: [], pool: [] };
    for (const result of results) {
      addTotals(merged.totals, result.totals);
      for (const difference of result.differences) merged.differences.push(difference);
      for (const row of result.pool) merged.pool.push(row);
    }
    return merged;
  }

  /** One source's row offsets per shard. */
  async #split(bytes: SharedArrayBuffer, format: RowFormat): Promise<Uint32Array[]> {
    assert(bytes.byteLength < 2 ** 32, 'recon: a source over 4 GiB');
    const ranges = lineRanges(new Uint8Array(bytes), this.threads * 2);
    const parts = await allSettled(ranges.map(([start, end]) => this.#run({ type: 'split', bytes, start, end, format, shards: this.shards } satisfies SplitTask) as Promise<Uint32Array[]>));
    return Array.from({ length: this.shards }, (_, shard) => {
      const lists = parts.map((part) => part[shard]!);
      const joined = new Uint32Array(lists.reduce((n, list) => n + list.length, 0));
      let at = 0;
      for (const list of lists) {
        joined.set(list, at);
        at += list.length;
      }
      return joined;
    });
  }

  async #run(task: ReconTask, transferList?: ArrayBuffer[]): Promise<Uint32Array[] | MatchResult> {
    this.#in_flight++;
    try {
      return await this.#piscina.run(task, { transferList });
    } finally {
      this.#in_flight--;
    }
  }
}

/** Promise.all that waits for every promise to settle before it rejects (with the first
 * failure in order), so that no task of a failed run is left on a thread. */
async function allSettled<T>(promises: readonly Promise<T>[]): Promise<T[]> {
  const settled = await Promise.allSettled(promises);
  const failed = settled.find((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((outcome) => (outcome as PromiseFulfilledResult<T>).value);
}

function toShared(bytes: Uint8Array | SharedArrayBuffer): SharedArrayBuffer {
  if (bytes instanceof SharedArrayBuffer) return bytes;
  const shared = new SharedArrayBuffer(bytes.byteLength);
  new Uint8Array(shared).set(bytes);
  return shared;
}
