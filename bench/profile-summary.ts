// Summarises a V8 .cpuprofile (from `node --cpu-prof`): top functions by self time, with their total
// (inclusive) time, and self time per source file. Usage:
//   node --import tsx bench/profile-summary.ts FILE.cpuprofile [--top 25] [--statements N]
//   node --import tsx bench/profile-summary.ts FILE.cpuprofile --callers writev [--depth 6]   (who calls it)
import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface CallFrame { functionName: string; url: string; lineNumber: number; columnNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

export interface FunctionTime { name: string; location: string; selfUs: number; totalUs: number }

export interface ProfileSummary {
  /** Wall time covered by the samples. */
  sampledUs: number;
  /** Time spent neither in JS nor native work: the event loop waiting. */
  idleUs: number;
  /** sampledUs - idleUs: time the main thread was busy. */
  busyUs: number;
  gcUs: number;
  functions: FunctionTime[];
  files: { file: string; selfUs: number }[];
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function shortUrl(url: string): string {
  if (url === '') return '';
  if (url.startsWith('file://')) {
    const path = fileURLToPath(url);
    const rel = relative(ROOT, path);
    return rel.startsWith('..') ? path : rel;
  }
  return url;
}

export function summarize(profile: CpuProfile): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfByNode = new Map<number, number>();
  // timeDeltas[i] is the time between sample i-1 and sample i; attribute it to sample i (as DevTools does).
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfByNode.set(id, (selfByNode.get(id) ?? 0) + Math.max(0, profile.timeDeltas[i] ?? 0));
  }
  const keyOf = (n: ProfileNode) => {
    const f = n.callFrame;
    return `${f.functionName || '(anonymous)'}\u0000${shortUrl(f.url)}${f.url ? `:${f.lineNumber + 1}` : ''}`;
  };
  const fns = new Map<string, FunctionTime>();
  const files = new Map<string, number>();
  let sampledUs = 0;
  let idleUs = 0;
  let gcUs = 0;
  // Depth-first over the call tree; a node's self time counts towards the total of every distinct
  // function on its stack (recursion counted once).
  const onStack = new Map<string, number>();
  const root = profile.nodes[0]!;
  const visit = (node: ProfileNode): void => {
    const key = keyOf(node);
    onStack.set(key, (onStack.get(key) ?? 0) + 1);
    const self = selfByNode.get(node.id) ?? 0;
    if (self > 0) {
      sampledUs += self;
      const name = node.callFrame.functionName;
      if (name === '(idle)') idleUs += self;
      if (name === '(garbage collector)') gcUs += self;
      const file = shortUrl(node.callFrame.url) || name || '(native)';
      files.set(file, (files.get(file) ?? 0) + self);
      for (const k of onStack.keys()) entry(k).totalUs += self;
      entry(key).selfUs += self;
    }
    for (const child of node.children ?? []) visit(byId.get(child)!);
    const count = onStack.get(key)! - 1;
    if (count === 0) onStack.delete(key);
    else onStack.set(key, count);
  };
  const entry = (key: string): FunctionTime => {
    let e = fns.get(key);
    if (e === undefined) {
      const [name, location] = key.split('\u0000') as [string, string];
      e = { name, location, selfUs: 0, totalUs: 0 };
      fns.set(key, e);
    }
    return e;
  };
  visit(root);
  const functions = [...fns.values()].filter((f) => f.name !== '(root)').sort((a, b) => b.selfUs - a.selfUs);
  const fileList = [...files.entries()].map(([file, selfUs]) => ({ file, selfUs })).sort((a, b) => b.selfUs - a.selfUs);
  return { sampledUs, idleUs, busyUs: sampledUs - idleUs, gcUs, functions, files: fileList };
}

/** The call paths (innermost `depth` frames) that lead to functions named `name`, by self time below them. */
export function callers(profile: CpuProfile, name: string, depth = 6, top = 10): { path: string; us: number }[] {
  const parent = new Map<number, ProfileNode>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n);
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + Math.max(0, profile.timeDeltas[i] ?? 0));
  }
  // Time under each node (self + descendants).
  const under = new Map<number, number>();
  const total = (n: ProfileNode): number => {
    let t = self.get(n.id) ?? 0;
    for (const c of n.children ?? []) t += total(byId.get(c)!);
    under.set(n.id, t);
    return t;
  };
  total(profile.nodes[0]!);
  const paths = new Map<string, number>();
  for (const n of profile.nodes) {
    if (n.callFrame.functionName !== name) continue;
    // Outermost match only, so that recursion is not counted twice.
    let p = parent.get(n.id);
    let nested = false;
    for (let q = p; q; q = parent.get(q.id)) if (q.callFrame.functionName === name) nested = true;
    if (nested) continue;
    const frames: string[] = [];
    for (let q: ProfileNode | undefined = n; q && frames.length < depth; q = parent.get(q.id)) {
      frames.push(`${q.callFrame.functionName || '(anonymous)'}${q.callFrame.url ? ` (${shortUrl(q.callFrame.url).replace(/^.*\//, '')}:${q.callFrame.lineNumber + 1})` : ''}`);
    }
    p = undefined;
    const key = frames.reverse().join(' → ');
    paths.set(key, (paths.get(key) ?? 0) + (under.get(n.id) ?? 0));
  }
  return [...paths.entries()].map(([path, us]) => ({ path, us })).sort((a, b) => b.us - a.us).slice(0, top);
}

export function loadProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
}

/** Plain-text report; `statements` (when known) adds µs of busy main-thread time per statement. */
export function formatSummary(s: ProfileSummary, top = 25, statements?: number): string {
  const pct = (us: number) => `${((100 * us) / Math.max(1, s.busyUs)).toFixed(1).padStart(5)}%`;
  const perStmt = (us: number) => (statements ? `${(us / statements).toFixed(2).padStart(7)} µs/stmt` : '');
  const lines = [
    `sampled ${(s.sampledUs / 1e6).toFixed(2)} s, idle ${(s.idleUs / 1e6).toFixed(2)} s, busy ${(s.busyUs / 1e6).toFixed(2)} s` +
      (statements ? ` (${(s.busyUs / statements).toFixed(2)} µs busy main-thread time per statement over ${statements} statements)` : ''),
    `GC ${pct(s.gcUs)} of busy`,
    '',
    `top ${top} functions by self time (% of busy time):`,
    `${'self'.padStart(6)} ${'total'.padStart(6)}  function  location`,
  ];
  for (const f of s.functions.filter((f) => f.name !== '(idle)').slice(0, top)) {
    lines.push(`${pct(f.selfUs)} ${pct(f.totalUs)}  ${f.name}  ${f.location}  ${perStmt(f.selfUs)}`.trimEnd());
  }
  lines.push('', 'self time by file:');
  for (const f of s.files.filter((f) => f.file !== '(idle)').slice(0, 15)) {
    lines.push(`${pct(f.selfUs)}  ${f.file}  ${perStmt(f.selfUs)}`.trimEnd());
  }
  return lines.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { top: { type: 'string', default: '25' }, statements: { type: 'string' }, callers: { type: 'string' }, depth: { type: 'string', default: '6' } },
  });
  if (positionals.length === 0) {
    console.error('usage: node --import tsx bench/profile-summary.ts FILE.cpuprofile [--top N] [--statements N] [--callers FUNCTION [--depth N]]');
    process.exit(2);
  }
  for (const file of positionals) {
    console.log(`== ${file}`);
    const profile = loadProfile(file);
    if (values.callers) {
      const busy = summarize(profile).busyUs;
      console.log(`call paths into ${values.callers} (time below them, % of busy):`);
      for (const c of callers(profile, values.callers, Number(values.depth), Number(values.top))) {
        console.log(`${((100 * c.us) / busy).toFixed(1).padStart(5)}%  ${c.path}`);
      }
      continue;
    }
    console.log(formatSummary(summarize(profile), Number(values.top), values.statements ? Number(values.statements) : undefined));
  }
}
