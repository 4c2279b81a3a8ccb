// Counting, not only timing: what crossed a socket during a step, read from the servers the
// bench started for itself (testing/deps.ts) so that nothing else is counted — NATS messages
// and bytes from nats-server's monitoring port (/varz), Redis commands and the time Redis's
// single thread spent in them from INFO commandstats. Divided by the operations a step
// completed, they are the per-create numbers the report puts beside throughput: they move far
// less with a noisy machine than throughput does.

import type { Redis } from 'ioredis';

export interface NatsCounts {
  in_msgs: number;
  out_msgs: number;
  in_bytes: number;
  out_bytes: number;
}

export interface RedisCommandCounts {
  calls: number;
  usec: number;
}

export interface RedisCounts {
  /** Every command but the INFO calls the bench itself makes — the commands scripts run
   * included (commandstats counts them, and their time is also inside the script's). */
  calls: number;
  usec: number;
  by_command: Record<string, RedisCommandCounts>;
  /** redis-server's own CPU time (INFO cpu: used_cpu_user + used_cpu_sys), µs: what the
   * commands cost its thread, network I/O included, nothing counted twice. */
  cpu_us: number;
}

export interface Counts {
  nats: NatsCounts;
  redis: RedisCounts;
}

/** The message and byte counters of a nats-server's /varz (`monitor_url`: http://host:port). */
export async function natsCounts(monitor_url: string): Promise<NatsCounts> {
  const response = await fetch(`${monitor_url}/varz`);
  if (!response.ok) throw new Error(`nats-server /varz answered ${response.status}`);
  const varz = (await response.json()) as Partial<NatsCounts>;
  return { in_msgs: varz.in_msgs ?? 0, out_msgs: varz.out_msgs ?? 0, in_bytes: varz.in_bytes ?? 0, out_bytes: varz.out_bytes ?? 0 };
}

/** `INFO commandstats` parsed: `cmdstat_<name>:calls=N,usec=N,...` per command. */
export function parseCommandStats(info: string): RedisCounts {
  const by_command: Record<string, RedisCommandCounts> = {};
  let calls = 0;
  let usec = 0;
  for (const line of info.split(/\r?\n/)) {
    const match = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
    if (match === null) continue;
    const name = match[1]!;
    const entry = { calls: Number(match[2]), usec: Number(match[3]) };
    by_command[name] = entry;
    if (name === 'info') continue; // the bench's own reads
    calls += entry.calls;
    usec += entry.usec;
  }
  const cpu = (name: string): number => Number(new RegExp(`^${name}:([0-9.]+)`, 'm').exec(info)?.[1] ?? 0);
  return { calls, usec, by_command, cpu_us: Math.round((cpu('used_cpu_user') + cpu('used_cpu_sys')) * 1e6) };
}

export async function redisCounts(redis: Redis): Promise<RedisCounts> {
  const [stats, cpu] = await Promise.all([redis.info('commandstats'), redis.info('cpu')]);
  return parseCommandStats(`${stats}\n${cpu}`);
}

/** The counts of `b` minus those of `a`, per operation when `operations` > 0. */
export function perOperation(a: Counts, b: Counts, operations: number): PerOperation {
  const n = Math.max(1, operations);
  const r = (x: number, digits = 2): number => Math.round((x / n) * 10 ** digits) / 10 ** digits;
  const commands: Record<string, { calls: number; usec: number }> = {};
  for (const [name, after] of Object.entries(b.redis.by_command)) {
    if (name === 'info') continue;
    const before = a.redis.by_command[name] ?? { calls: 0, usec: 0 };
    if (after.calls > before.calls) commands[name] = { calls: r(after.calls - before.calls), usec: r(after.usec - before.usec, 1) };
  }
  return {
    operations,
    nats_msgs_in: r(b.nats.in_msgs - a.nats.in_msgs),
    nats_msgs_out: r(b.nats.out_msgs - a.nats.out_msgs),
    nats_bytes_in: r(b.nats.in_bytes - a.nats.in_bytes, 0),
    nats_bytes_out: r(b.nats.out_bytes - a.nats.out_bytes, 0),
    redis_commands: r(b.redis.calls - a.redis.calls),
    redis_us: r(b.redis.usec - a.redis.usec, 1),
    redis_cpu_us: r(b.redis.cpu_us - a.redis.cpu_us, 1),
    redis_by_command: commands,
  };
}

export interface PerOperation {
  /** The operations completed in the step (the divisor). */
  operations: number;
  nats_msgs_in: number;
  nats_msgs_out: number;
  nats_bytes_in: number;
  nats_bytes_out: number;
  redis_commands: number;
  /** Microseconds of Redis's thread (commandstats usec), per operation. */
  redis_us: number;
  /** redis-server's CPU (INFO cpu), µs per operation. */
  redis_cpu_us: number;
  redis_by_command: Record<string, { calls: number; usec: number }>;
}

export type NetPerOperation = Pick<PerOperation, 'nats_msgs_in' | 'nats_msgs_out' | 'nats_bytes_in' | 'nats_bytes_out' | 'redis_commands'> & { cpu_ms: Record<string, number> };

/** Per-operation numbers less what the stack does at rest (`rest`: per second, e.g. lease
 * renewals, health flushes, configuration polls) over the step's `seconds`, shared among its
 * `operations`: what the operations themselves cost. Never below 0. */
export function netOfRest(
  per_op: PerOperation & { cpu_ms: Record<string, number> },
  rest: PerOperation & { cpu_ms: Record<string, number> },
  seconds: number,
  operations: number,
): NetPerOperation {
  const share = seconds / Math.max(1, operations);
  const net = (value: number, per_second: number | undefined, digits = 2): number =>
    Math.round(Math.max(0, value - (per_second ?? 0) * share) * 10 ** digits) / 10 ** digits;
  return {
    nats_msgs_in: net(per_op.nats_msgs_in, rest.nats_msgs_in),
    nats_msgs_out: net(per_op.nats_msgs_out, rest.nats_msgs_out),
    nats_bytes_in: net(per_op.nats_bytes_in, rest.nats_bytes_in, 0),
    nats_bytes_out: net(per_op.nats_bytes_out, rest.nats_bytes_out, 0),
    redis_commands: net(per_op.redis_commands, rest.redis_commands),
    cpu_ms: Object.fromEntries(Object.entries(per_op.cpu_ms).map(([k, v]) => [k, net(v, rest.cpu_ms[k], 3)])),
  };
}
