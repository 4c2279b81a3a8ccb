// The reconciliation pool's worker (piscina): two tasks over shared bytes, so that only line
// offsets and the few rows that differ cross threads, never a million row objects.
//   split — a byte range of one source → the offsets of its rows, per shard (by group hash);
//   match — one shard: decode its rows of every source, match them, return the result.

import { matchShard } from './fast';
import { isRowLine, lineEnd, shardOf, type RowFormat } from './format';
import type { MatchResult } from './types';

export interface SplitTask {
  type: 'split';
  bytes: SharedArrayBuffer;
  start: number;
  end: number;
  format: RowFormat;
  shards: number;
}

export interface ShardSource {
  bytes: SharedArrayBuffer;
  format: RowFormat;
  /** The business date of a statement's rows (recon rows carry their own). */
  date: string;
  offsets: Uint32Array;
}

export interface MatchTask {
  type: 'match';
  day: string;
  pool_days: number;
  sources: ShardSource[];
}

export type ReconTask = SplitTask | MatchTask;

export default function run(task: ReconTask): Uint32Array[] | MatchResult {
  return task.type === 'split' ? split(task) : match(task);
}

function split(task: SplitTask): Uint32Array[] {
  const bytes = new Uint8Array(task.bytes);
  const lists = Array.from({ length: task.shards }, () => new Uint32Array(1024));
  const counts = new Array<number>(task.shards).fill(0);
  for (let start = task.start; start < task.end; ) {
    const end = lineEnd(bytes, start, task.end);
    const trimmed = end > start && bytes[end - 1] === 0x0d ? end - 1 : end;
    if (isRowLine(bytes, start, trimmed, task.format)) {
      const shard = shardOf(bytes, start, trimmed, task.shards);
      let list = lists[shard]!;
      if (counts[shard] === list.length) {
        const grown = new Uint32Array(list.length * 2);
        grown.set(list);
        lists[shard] = list = grown;
      }
      list[counts[shard]!++] = start;
    }
    start = end + 1;
  }
  return lists.map((list, shard) => list.slice(0, counts[shard]));
}

function match(task: MatchTask): MatchResult {
  const inputs = task.sources.map((source) => ({ buffer: Buffer.from(source.bytes), format: source.format, date: source.date, offsets: source.offsets }));
  return matchShard(inputs, { day: task.day, pool_days: task.pool_days });
}
