/**
 * bench:check — has performance regressed against the committed baseline?
 *
 *   npm run bench:check                    # quick fresh runs, compare with bench/results/baseline.json
 *   npm run bench:check -- --from bench/results   # compare results files already there instead
 *   npm run bench:check -- --update        # measure and write the baseline (commit it)
 *   flags: --repeat 3 (runs per suite; figures are medians)  --baseline path  --only a,b
 *
 * Fails (exit 1) when any tracked figure is more than 20 % worse than its baseline.
 *
 * What is tracked, and why these: the check must mean the same on a laptop, this 2-core box and
 * a CI runner, so it tracks ratios measured within one run wherever it can — embedcache ÷
 * lru-cache / Map on the same workload, 2-thread ÷ 1-thread throughput, shared memory ÷ message
 * passing, p99 at 100k ÷ p99 at 10k — and sizes (bytes per entry, memory-estimate error), which
 * do not depend on the CPU. Absolute ops/s are tracked only when the machine (CPU model and
 * core count) is the one the baseline was taken on; elsewhere they are printed, not judged.
 *
 * A figure "20 % worse" is value < 0.8 × baseline for higher-is-better, value > 1.2 × baseline
 * for lower-is-better. Figures near zero (an error of 1 %) also get an absolute slack, so noise
 * of a fraction of a point cannot fail the check; the slack is listed per figure.
 *
 * Noise: each suite runs --repeat times (default 3) and each figure is the median of the runs.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConcurrencyRow } from '../concurrency.js';
import { boolFlag, intFlag, parseFlags, strFlag } from '../lib/args.js';
import { buildProblem } from '../lib/build.js';
import { machineInfo, machineLine, type MachineInfo } from '../lib/machine.js';
import {
  fmtOps,
  median,
  printTable,
  readResults,
  RESULTS_DIR,
  type ResultsFile,
  type SuiteName,
} from '../lib/results.js';
import type { MemoryRow } from '../memory.js';
import type { OpsRow } from '../ops.js';
import type { PeerRow } from '../peers.js';
import type { ScaleRow } from '../scale.js';

const TOLERANCE = 0.2;

interface FigureSpec {
  suite: SuiteName;
  better: 'higher' | 'lower';
  /** Absolute slack added to the 20 % bound (for figures near zero). */
  slack: number;
  /** Compared only on the machine the baseline was measured on (absolute rates). */
  machineBound: boolean;
  description: string;
  /** Reads the figure from one results file; NaN when the file lacks it. */
  read: (doc: ResultsFile<unknown>) => number;
}

interface BaselineFile {
  date: string;
  machine: MachineInfo;
  figures: Record<
    string,
    { value: number; better: 'higher' | 'lower'; slack: number; machineBound: boolean; description: string }
  >;
}

// ── Figure readers ───────────────────────────────────────────────────────────────────────────

type CaseRow = Extract<PeerRow, { table: 'case' }>;
type PeerMemRow = Extract<PeerRow, { table: 'memory' }>;
const peerRate = (doc: ResultsFile<unknown>, peer: string, c: string) =>
  (doc.rows as PeerRow[]).find((r): r is CaseRow => r.table === 'case' && r.peer === peer && r.case === c)
    ?.keysPerSec ?? Number.NaN;
const peerBytes = (doc: ResultsFile<unknown>, peer: string) =>
  (doc.rows as PeerRow[]).find((r): r is PeerMemRow => r.table === 'memory' && r.peer === peer)
    ?.bytesPerEntry ?? Number.NaN;
const peerRatio = (peer: string, c: string) => (doc: ResultsFile<unknown>) =>
  peerRate(doc, 'embedcache', c) / peerRate(doc, peer, c);
const conc = (doc: ResultsFile<unknown>, mode: string, threads: number) =>
  (doc.rows as ConcurrencyRow[]).find((r) => r.mode === mode && r.threads === threads);
const scaleRow = (doc: ResultsFile<unknown>, entries: number) =>
  (doc.rows as ScaleRow[]).find((r) => r.entries === entries);
const opsRow = (doc: ResultsFile<unknown>, dims: number, c: string) =>
  (doc.rows as OpsRow[]).find((r) => r.dims === dims && r.case === c);

const FIGURES: Record<string, FigureSpec> = {
  'peers.get-fresh÷lru-text': {
    suite: 'peers',
    better: 'higher',
    slack: 0,
    machineBound: false,
    description: 'get hit with fresh text, embedcache ÷ lru-cache (text key)',
    read: peerRatio('lru-text', 'get hit, fresh text'),
  },
  'peers.get-fresh÷map': {
    suite: 'peers',
    better: 'higher',
    slack: 0,
    machineBound: false,
    description: 'get hit with fresh text, embedcache ÷ Map',
    read: peerRatio('map', 'get hit, fresh text'),
  },
  'peers.get÷lru-sha256': {
    suite: 'peers',
    better: 'higher',
    slack: 0,
    machineBound: false,
    description: 'get hit, embedcache ÷ lru-cache (sha256 key)',
    read: peerRatio('lru-sha256', 'get hit'),
  },
  'peers.set÷lru-text': {
    suite: 'peers',
    better: 'higher',
    slack: 0,
    machineBound: false,
    description: 'set (overwrite), embedcache ÷ lru-cache (text key)',
    read: peerRatio('lru-text', 'set (overwrite)'),
  },
  'peers.set-evict÷lru-text': {
    suite: 'peers',
    better: 'higher',
    slack: 0,
    machineBound: false,
    description: 'set of a new key into a full cache, embedcache ÷ lru-cache (text key)',
    read: peerRatio('lru-text', 'set (new key, full)'),
  },
  'peers.bytes÷lru-text': {
    suite: 'peers',
    better: 'lower',
    slack: 0.05,
    machineBound: false,
    description: 'bytes per entry, embedcache ÷ lru-cache (text key)',
    read: (d) => peerBytes(d, 'embedcache') / peerBytes(d, 'lru-text'),
  },
  'memory.|error|%@10k×768': {
    suite: 'memory',
    better: 'lower',
    slack: 2,
    machineBound: false,
    description: '|memoryBytes vs measured| error, %, 10k × 768-d',
    read: (d) =>
      Math.abs(
        (d.rows as MemoryRow[]).find((r) => r.entries === 10_000 && r.dims === 768)?.errorPct ?? Number.NaN,
      ),
  },
  'memory.overhead@10k×768': {
    suite: 'memory',
    better: 'lower',
    slack: 0,
    machineBound: false,
    description: 'bytes per entry ÷ vector bytes, 10k × 768-d',
    read: (d) =>
      (d.rows as MemoryRow[]).find((r) => r.entries === 10_000 && r.dims === 768)?.overhead ?? Number.NaN,
  },
  'scale.p99@100k÷p99@10k': {
    suite: 'scale',
    better: 'lower',
    slack: 0.25,
    machineBound: false,
    description: 'get p99 at 100k entries ÷ at 10k (768-d)',
    read: (d) =>
      (scaleRow(d, 100_000)?.getP99Ns ?? Number.NaN) / (scaleRow(d, 10_000)?.getP99Ns ?? Number.NaN),
  },
  'scale.overhead@100k': {
    suite: 'scale',
    better: 'lower',
    slack: 0,
    machineBound: false,
    description: 'bytes per entry ÷ vector bytes at 100k × 768-d',
    read: (d) => scaleRow(d, 100_000)?.overhead ?? Number.NaN,
  },
  'concurrency.speedup@2': {
    suite: 'concurrency',
    better: 'higher',
    slack: 0,
    machineBound: false,
    description: 'shared cache, 2 threads ÷ 1 thread (ops/s)',
    read: (d) => conc(d, 'shared', 2)?.speedup ?? Number.NaN,
  },
  'concurrency.shared÷message@2': {
    suite: 'concurrency',
    better: 'higher',
    slack: 0,
    machineBound: false,
    description: 'shared memory ÷ cache-in-main-thread-by-message, 2 threads',
    read: (d) =>
      (conc(d, 'shared', 2)?.opsPerSec ?? Number.NaN) / (conc(d, 'message', 2)?.opsPerSec ?? Number.NaN),
  },
  'ops.get-hit@768 keys/s': {
    suite: 'ops',
    better: 'higher',
    slack: 0,
    machineBound: true,
    description: 'get hit, 768-d, keys/s (same machine only)',
    read: (d) => opsRow(d, 768, 'get hit')?.keysPerSec ?? Number.NaN,
  },
  'ops.set@768 keys/s': {
    suite: 'ops',
    better: 'higher',
    slack: 0,
    machineBound: true,
    description: 'set (overwrite), 768-d, keys/s (same machine only)',
    read: (d) => opsRow(d, 768, 'set (overwrite)')?.keysPerSec ?? Number.NaN,
  },
};

/** The quick run of each suite: enough to read every figure above, a minute or less each. */
const QUICK_ARGS: Record<SuiteName, string[]> = {
  ops: ['--dims', '768', '--keys', '2048', '--time', '0.5'],
  memory: ['--entries', '10000', '--dims', '768'],
  scale: ['--sizes', '10000,100000', '--sample', '10000'],
  concurrency: ['--threads', '2', '--ops', '600000', '--rounds', '3', '--keys', '4096'],
  peers: [
    '--peers',
    'embedcache,lru-text,lru-sha256,map',
    '--threads',
    '0',
    '--rounds',
    '3',
    '--time',
    '200',
    '--entries',
    '20000',
  ],
};
/** Runs per suite by default: sizes are near-deterministic, rates are not. */
const DEFAULT_REPEAT: Record<SuiteName, number> = { ops: 3, memory: 1, scale: 3, concurrency: 3, peers: 3 };

// ── Main ─────────────────────────────────────────────────────────────────────────────────────

const flags = parseFlags({
  from: { type: 'string' },
  update: { type: 'boolean' },
  repeat: { type: 'string' },
  baseline: { type: 'string' },
  only: { type: 'string' },
  help: { type: 'boolean' },
});
if (boolFlag(flags, 'help')) {
  console.log(
    'npm run bench:check -- [--from bench/results] [--update] [--repeat 3] [--baseline path] [--only peers,memory,scale,concurrency,ops]',
  );
  process.exit(0);
}
const baselinePath = resolve(strFlag(flags, 'baseline') ?? join(RESULTS_DIR, 'baseline.json'));
const from = strFlag(flags, 'from');
const suites = (strFlag(flags, 'only')?.split(',') ?? [
  'peers',
  'memory',
  'scale',
  'concurrency',
  'ops',
]) as SuiteName[];
const repeatFlag = flags.repeat === undefined ? undefined : intFlag(flags, 'repeat', 3, 1, 20);
const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));

/** Fresh results documents per suite (several when repeated). */
function collectRuns(): Map<SuiteName, ResultsFile<unknown>[]> {
  const runs = new Map<SuiteName, ResultsFile<unknown>[]>();
  if (from !== undefined) {
    for (const s of suites) {
      const p = resolve(from, `${s}.json`);
      if (existsSync(p)) runs.set(s, [readResults(p)]);
      else console.log(`no ${p}: figures of ${s} are not checked`);
    }
    return runs;
  }
  if (suites.includes('concurrency')) {
    const problem = buildProblem();
    if (problem !== undefined) {
      console.error(problem);
      process.exit(2);
    }
  }
  for (const s of suites) {
    const n = repeatFlag ?? DEFAULT_REPEAT[s];
    const docs: ResultsFile<unknown>[] = [];
    for (let i = 0; i < n; i++) {
      const out = join(RESULTS_DIR, `check-${s}-${i}.tmp.json`);
      console.log(`\n━━━ bench:check: ${s} (${i + 1}/${n}) ━━━`);
      const r = spawnSync(
        process.execPath,
        ['--import', 'tsx', here(`../${s}.ts`), ...QUICK_ARGS[s], '--out', out],
        {
          stdio: 'inherit',
          env: { ...process.env, BENCH_NO_PROGRESS: '1' },
        },
      );
      if (r.status !== 0) {
        console.error(
          `bench:check: the ${s} suite failed (exit ${r.status ?? r.signal}); nothing to compare.`,
        );
        process.exit(2);
      }
      docs.push(readResults(out));
    }
    runs.set(s, docs);
  }
  return runs;
}

const fmt = (v: number) => (Math.abs(v) >= 1000 ? fmtOps(v) : v.toPrecision(4));

function sameMachine(a: MachineInfo, b: MachineInfo): boolean {
  return a.cpuModel === b.cpuModel && a.cores === b.cores;
}

const runs = collectRuns();
const now: Record<string, number> = {};
for (const [name, spec] of Object.entries(FIGURES)) {
  const docs = runs.get(spec.suite);
  if (!docs) continue;
  now[name] = median(docs.map(spec.read).filter((v) => Number.isFinite(v)));
}
const machine = machineInfo();

if (boolFlag(flags, 'update')) {
  const figures: BaselineFile['figures'] = {};
  for (const [name, spec] of Object.entries(FIGURES)) {
    const v = now[name];
    if (v === undefined || !Number.isFinite(v)) continue;
    figures[name] = {
      value: v,
      better: spec.better,
      slack: spec.slack,
      machineBound: spec.machineBound,
      description: spec.description,
    };
  }
  const doc: BaselineFile = { date: new Date().toISOString(), machine, figures };
  writeFileSync(baselinePath, `${JSON.stringify(doc, null, 2)}\n`);
  console.log(`\nwrote ${baselinePath} (${Object.keys(figures).length} figures, ${machineLine(machine)})`);
  process.exit(0);
}

if (!existsSync(baselinePath)) {
  console.error(
    `No baseline at ${baselinePath}. Create it on the reference machine with \`npm run bench:check -- --update\` and commit it.`,
  );
  process.exit(2);
}
const baseline = JSON.parse(readFileSync(baselinePath, 'utf8')) as BaselineFile;
const onBaselineMachine = sameMachine(machine, baseline.machine);
const rows: string[][] = [];
const failures: string[] = [];
for (const [name, base] of Object.entries(baseline.figures)) {
  const v = now[name];
  const spec = FIGURES[name];
  if (spec && !runs.has(spec.suite)) continue;
  if (v === undefined || !Number.isFinite(v)) {
    rows.push([name, fmt(base.value), '–', '', 'MISSING']);
    failures.push(`${name}: no fresh value`);
    continue;
  }
  const change = (v - base.value) / Math.abs(base.value);
  let status: string;
  if (base.machineBound && !onBaselineMachine) {
    status = 'not judged (other machine)';
  } else {
    const worse =
      base.better === 'higher'
        ? v < base.value * (1 - TOLERANCE) - base.slack
        : v > base.value * (1 + TOLERANCE) + base.slack;
    status = worse ? 'WORSE' : 'ok';
    if (worse) failures.push(`${name}: ${fmt(v)} vs baseline ${fmt(base.value)} (${base.better} is better)`);
  }
  rows.push([
    name,
    fmt(base.value),
    fmt(v),
    `${change >= 0 ? '+' : ''}${(change * 100).toFixed(1)} %`,
    status,
  ]);
}
if (rows.length === 0) {
  console.error(
    `bench:check: no figure of ${baselinePath} could be compared (no fresh results for its suites); nothing was checked.`,
  );
  process.exit(2);
}
printTable(
  `bench:check — fresh figures vs ${baselinePath}\nbaseline: ${machineLine(baseline.machine)} (${baseline.date.slice(0, 10)})\nnow:      ${machineLine(machine)}`,
  ['figure', 'baseline', 'now', 'change', 'status'],
  rows,
);
if (failures.length > 0) {
  console.error(
    `\nbench:check FAILED — ${failures.length} figure(s) more than ${TOLERANCE * 100} % worse:\n  ${failures.join('\n  ')}`,
  );
  process.exit(1);
}
console.log(`\nbench:check passed: every tracked figure within ${TOLERANCE * 100} % of the baseline.`);
