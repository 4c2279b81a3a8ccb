// What a result file says about the machine it ran on, and CPU accounting per process from
// /proc (Linux): the driver competes with paycore for the same cores, so every step reports
// how the CPU was split between them.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

export interface MachineInfo {
  hostname: string;
  platform: string;
  release: string;
  arch: string;
  cpu_model: string;
  cpu_count: number;
  memory_total_bytes: number;
  node_version: string;
  nats_server_version: string;
  redis_server_version: string;
}

function versionOf(command: string, fallback_path?: string): string {
  for (const binary of fallback_path === undefined ? [command] : [command, fallback_path]) {
    try {
      return execFileSync(binary, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    } catch {
      // try the next place
    }
  }
  return 'unknown';
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    hostname: os.hostname(),
    platform: os.platform(),
    release: os.release(),
    arch: os.arch(),
    cpu_model: cpus[0]?.model ?? 'unknown',
    cpu_count: cpus.length,
    memory_total_bytes: os.totalmem(),
    node_version: process.version,
    nats_server_version: versionOf('nats-server', '/usr/sbin/nats-server'),
    redis_server_version: versionOf('redis-server'),
  };
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on every Linux we run on). */
const user_hz = 100;

/** utime + stime of a process (all its threads), ms; undefined once it is gone. */
export function cpuMsOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may contain spaces: ") S ppid ..." → utime is field 14.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / user_hz;
  } catch {
    return undefined;
  }
}

/** Pids whose command name is `comm` (e.g. nats-server), read-only. */
export function pidsNamed(comm: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === comm) pids.push(Number(entry));
    } catch {
      // raced with its exit
    }
  }
  return pids;
}

/** Busy time of the whole machine (all cores, every process), ms, from /proc/stat. */
export function machineBusyMs(): number {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal ...: busy = all but idle and iowait.
    const busy = cpu.reduce((sum, v, i) => (i === 3 || i === 4 ? sum : sum + v), 0);
    return (busy * 1000) / user_hz;
  } catch {
    return 0;
  }
}

/** Named groups of processes whose CPU time is compared between two instants. */
export class CpuMeter {
  readonly #groups: Map<string, () => number[]>;

  constructor(groups: Record<string, () => number[]>) {
    this.#groups = new Map(Object.entries(groups));
  }

  snapshot(): { at_ms: number; cpu_ms: Record<string, number>; self_ms: number; machine_ms: number } {
    const cpu_ms: Record<string, number> = {};
    for (const [name, pids] of this.#groups) cpu_ms[name] = pids().reduce((sum, pid) => sum + (cpuMsOf(pid) ?? 0), 0);
    const self = process.cpuUsage();
    return { at_ms: performance.now(), cpu_ms, self_ms: (self.user + self.system) / 1000, machine_ms: machineBusyMs() };
  }

  /** CPU ms per group between two snapshots, `coordinator_and_sandbox` this process. */
  static msBetween(a: ReturnType<CpuMeter['snapshot']>, b: ReturnType<CpuMeter['snapshot']>): Record<string, number> {
    const ms: Record<string, number> = {};
    for (const name of Object.keys(b.cpu_ms)) ms[name] = b.cpu_ms[name]! - (a.cpu_ms[name] ?? 0);
    ms.coordinator_and_sandbox = b.self_ms - a.self_ms;
    return ms;
  }

  /** Percent of one core per group between two snapshots; `coordinator` is this process
   * (which also hosts the sandbox PSP); `other` is every other process on the machine (a
   * busy neighbour makes a step's numbers suspect). */
  static between(a: ReturnType<CpuMeter['snapshot']>, b: ReturnType<CpuMeter['snapshot']>): Record<string, number> {
    const seconds = (b.at_ms - a.at_ms) / 1000;
    const percent = (ms: number): number => Math.round((ms / 10 / seconds) * 10) / 10;
    const split: Record<string, number> = {};
    for (const name of Object.keys(b.cpu_ms)) split[name] = percent(b.cpu_ms[name]! - (a.cpu_ms[name] ?? 0));
    split.coordinator_and_sandbox = percent(b.self_ms - a.self_ms);
    const known = Object.values(split).reduce((sum, v) => sum + v, 0);
    split.other = Math.max(0, Math.round((percent(b.machine_ms - a.machine_ms) - known) * 10) / 10);
    return split;
  }
}
