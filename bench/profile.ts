// Summarizes V8 .cpuprofile files (node --cpu-prof: one per thread of the paycore process) into
// self time per function and per package, so a bench run can say where paycore's CPU goes.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { round } from './driver/percentiles';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionTime {
  function: string;
  location: string;
  package: string;
  self_ms: number;
  percent: number;
}

export interface ProfileSummary {
  files: string[];
  /** Sampled time, idle excluded, ms. */
  total_ms: number;
  top: FunctionTime[];
  own_code_top: FunctionTime[];
  by_package: Array<{ package: string; self_ms: number; percent: number }>;
}

/** Functions listed per table. */
const top_functions_max = 25;

/** Which code a profile frame belongs to: paycore's own, a dependency, Node.js, or V8. */
export function packageOf(url: string, function_name: string): string {
  if (url === '') return function_name.startsWith('(') ? function_name : '(native)';
  const own = /\/dist\/((core|workers|channels|proto|bench)\/[^/]*)/.exec(url);
  if (own !== null && !url.includes('node_modules')) return `paycore:${own[2]}`;
  const dep = /node_modules\/((@[^/]+\/)?[^/]+)/.exec(url);
  if (dep !== null) return dep[1]!;
  if (url.startsWith('node:')) return 'node:internal';
  return url;
}

export function summarizeProfiles(dir: string): ProfileSummary {
  const files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).sort();
  const by_function = new Map<string, FunctionTime>();
  const by_package = new Map<string, number>();
  let total_us = 0;
  for (const file of files) {
    const profile = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as CpuProfile;
    const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
    for (let i = 0; i < profile.samples.length; i++) {
      const node = nodes.get(profile.samples[i]!);
      const delta_us = profile.timeDeltas[i] ?? 0;
      if (node === undefined || node.callFrame.functionName === '(idle)') continue;
      total_us += delta_us;
      const frame = node.callFrame;
      const pkg = packageOf(frame.url, frame.functionName);
      const location = frame.url === '' ? '' : `${frame.url.replace(/^file:\/\/.*?\/(dist|node_modules)\//, '$1/')}:${frame.lineNumber + 1}`;
      const key = `${frame.functionName}@${location}`;
      const entry = by_function.get(key) ?? { function: frame.functionName || '(anonymous)', location, package: pkg, self_ms: 0, percent: 0 };
      entry.self_ms += delta_us / 1000;
      by_function.set(key, entry);
      by_package.set(pkg, (by_package.get(pkg) ?? 0) + delta_us / 1000);
    }
  }
  const total_ms = total_us / 1000;
  const finish = (f: FunctionTime): FunctionTime => ({ ...f, self_ms: round(f.self_ms, 1), percent: round((100 * f.self_ms) / Math.max(total_ms, 1e-9), 2) });
  const all = [...by_function.values()].sort((a, b) => b.self_ms - a.self_ms);
  return {
    files,
    total_ms: round(total_ms, 1),
    top: all.slice(0, top_functions_max).map(finish),
    own_code_top: all.filter((f) => f.package.startsWith('paycore:')).slice(0, top_functions_max).map(finish),
    by_package: [...by_package.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([name, ms]) => ({ package: name, self_ms: round(ms, 1), percent: round((100 * ms) / Math.max(total_ms, 1e-9), 2) })),
  };
}
