/**
 * bench:report — turns bench/results/*.json into the README's Performance section.
 *
 *   npm run bench:report [-- --dir bench/results --out bench/results/PERFORMANCE.md --link-base bench/results/]
 *
 * Writes PERFORMANCE.md (markdown tables, one per suite, each under the machine and Node version
 * it was measured on) and three SVG charts next to it, drawn with vega-lite compiled to a vega
 * view rendered headless (renderer 'none' + toSVG(): no browser, no canvas):
 *
 *   concurrency-threads.svg   threads → total ops/s, shared memory vs message passing
 *   scale-latency.svg         entries → get p50 / p99 (log-scaled entries)
 *   scale-bytes.svg           entries → bytes per entry, against the floats-only floor
 *
 * A suite whose results file is missing is left out with a line saying how to produce it.
 * Image links use --link-base so the section reads right when pasted into the README at the
 * repository root.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { ConcurrencyRow } from '../concurrency.js';
import { boolFlag, parseFlags, strFlag } from '../lib/args.js';
import { machineLine, type MachineInfo } from '../lib/machine.js';
import {
  fmtBytes,
  fmtCount,
  fmtNs,
  fmtOps,
  fmtPct,
  fmtRatio,
  medianRatio,
  readResults,
  RESULTS_DIR,
  type ResultsFile,
  type SuiteName,
} from '../lib/results.js';
import type { MemoryRow } from '../memory.js';
import type { OpsRow } from '../ops.js';
import type { PeerRow } from '../peers.js';
import type { ScaleRow } from '../scale.js';

const flags = parseFlags({
  dir: { type: 'string' },
  out: { type: 'string' },
  'link-base': { type: 'string' },
  help: { type: 'boolean' },
});
if (boolFlag(flags, 'help')) {
  console.log(
    'npm run bench:report -- [--dir bench/results] [--out bench/results/PERFORMANCE.md] [--link-base bench/results/]',
  );
  process.exit(0);
}
const dir = resolve(strFlag(flags, 'dir') ?? RESULTS_DIR);
const out = resolve(strFlag(flags, 'out') ?? join(dir, 'PERFORMANCE.md'));
const linkBase = strFlag(flags, 'link-base') ?? 'bench/results/';

function load<Row>(suite: SuiteName): ResultsFile<Row> | undefined {
  const path = join(dir, `${suite}.json`);
  return existsSync(path) ? readResults<Row>(path) : undefined;
}

/** A markdown table; cells are escaped for pipes. */
function table(header: string[], rows: string[][], align?: ('l' | 'r')[]): string {
  const esc = (s: string) => s.replaceAll('|', '\\|');
  const a = align ?? header.map((_, i) => (i === 0 ? 'l' : 'r'));
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `| ${a.map((x) => (x === 'r' ? '---:' : ':---')).join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

function measuredOn(doc: ResultsFile<unknown>): string {
  return `<sub>${machineLine(doc.machine as MachineInfo)} · ${doc.date.slice(0, 10)}</sub>`;
}

async function chart(name: string, spec: vl.TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const path = join(dirname(out), name);
  writeFileSync(path, svg);
  return path;
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';
const sections: string[] = ['## Performance', ''];
const missing = (suite: string, cmd: string) => `_No ${suite} results yet: run \`${cmd}\`._\n`;
const written: string[] = [];

// ── ops ──
const ops = load<OpsRow>('ops');
sections.push('### Operations, one thread', '');
if (ops) {
  sections.push(
    measuredOn(ops),
    '',
    `Chunk texts of 200 B – 2 KB; a pool of ${String(ops.config.keys)} keys. getMany/setMany move 256 keys per call: keys/s = calls/s × 256. ± is benny's relative margin of error.`,
    '',
    table(
      ['dims', 'operation', 'keys/s', 'calls/s', '±'],
      ops.rows.map((r) => [
        String(r.dims),
        r.case,
        fmtOps(r.keysPerSec),
        fmtOps(r.opsPerSec),
        `${r.marginPct.toFixed(1)} %`,
      ]),
      ['r', 'l', 'r', 'r', 'r'],
    ),
    '',
  );
} else sections.push(missing('ops', 'npm run bench:ops'));

// ── memory ──
const mem = load<MemoryRow>('memory');
sections.push('### Memory accounting: `stats().memoryBytes` against measured growth', '');
if (mem) {
  sections.push(
    measuredOn(mem),
    '',
    "Measured = RSS growth of a fresh process minus the JS heap's own resizing; small rows measure several identical caches together so RSS noise does not swamp them. Error = (memoryBytes − measured) / measured.",
    '',
    table(
      ['entries', 'dims', 'memoryBytes', 'measured', 'error', 'bytes/entry', '× floats'],
      mem.rows.map((r) => [
        fmtCount(r.entries),
        String(r.dims),
        fmtBytes(r.memoryBytes / r.replicas),
        fmtBytes(r.measuredBytes / r.replicas),
        fmtPct(r.errorPct),
        String(Math.round(r.bytesPerEntry)),
        r.overhead.toFixed(3),
      ]),
    ),
    '',
  );
} else sections.push(missing('memory', 'npm run bench:memory'));

// ── scale ──
const scale = load<ScaleRow>('scale');
sections.push('### Scale: 10k → 1M entries', '');
if (scale) {
  const first = scale.rows[0];
  sections.push(
    measuredOn(scale),
    '',
    `${String(scale.config.dims)}-d vectors, ~1.1 KB texts, one thread, a fresh process per size. Get latency is per call (clock overhead included, equal at every size); GC is every pause of the run.`,
    '',
    table(
      [
        'entries',
        'insert',
        'inserts/s',
        'get p50',
        'get p99',
        'p99 ÷ smallest',
        'bytes/entry',
        'GC total',
        'GC max',
      ],
      scale.rows.map((r) => [
        fmtCount(r.entries),
        `${(r.insertMs / 1000).toFixed(2)} s`,
        fmtOps(r.insertsPerSec),
        fmtNs(r.getP50Ns),
        fmtNs(r.getP99Ns),
        fmtRatio(first ? r.getP99Ns / first.getP99Ns : Number.NaN),
        `${Math.round(r.bytesPerEntry)} (${r.overhead.toFixed(3)}×)`,
        `${r.gcTotalMs.toFixed(1)} ms`,
        `${r.gcMaxMs.toFixed(2)} ms`,
      ]),
    ),
    '',
  );
  const latency = scale.rows.flatMap((r) => [
    { entries: r.entries, percentile: 'p50', us: r.getP50Ns / 1000 },
    { entries: r.entries, percentile: 'p99', us: r.getP99Ns / 1000 },
  ]);
  written.push(
    await chart('scale-latency.svg', {
      $schema: SCHEMA,
      title: `get latency vs entries (${String(scale.config.dims)}-d, 1 thread)`,
      width: 420,
      height: 260,
      data: { values: latency },
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'entries', type: 'quantitative', scale: { type: 'log' }, title: 'entries' },
        y: { field: 'us', type: 'quantitative', title: 'µs per get', scale: { zero: true } },
        color: { field: 'percentile', type: 'nominal', title: null },
      },
    }),
  );
  const floor = Number(scale.config.dims) * 4;
  written.push(
    await chart('scale-bytes.svg', {
      $schema: SCHEMA,
      title: `bytes per entry vs entries (${String(scale.config.dims)}-d)`,
      width: 420,
      height: 260,
      data: {
        values: scale.rows.flatMap((r) => [
          { entries: r.entries, series: 'embedcache (memoryBytes / entries)', bytes: r.bytesPerEntry },
          { entries: r.entries, series: `the floats alone (${floor} B)`, bytes: floor },
        ]),
      },
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: 'entries', type: 'quantitative', scale: { type: 'log' }, title: 'entries' },
        y: { field: 'bytes', type: 'quantitative', title: 'bytes per entry', scale: { zero: true } },
        color: {
          field: 'series',
          type: 'nominal',
          title: null,
          legend: { orient: 'bottom', labelLimit: 400 },
        },
      },
    }),
  );
  sections.push(
    `![get latency vs entries](${linkBase}scale-latency.svg) ![bytes per entry vs entries](${linkBase}scale-bytes.svg)`,
    '',
  );
} else sections.push(missing('scale', 'npm run bench:scale -- --max 1000000'));

// ── concurrency ──
const conc = load<ConcurrencyRow>('concurrency');
sections.push('### One cache, many threads', '');
if (conc) {
  const shared = new Map(conc.rows.filter((r) => r.mode === 'shared').map((r) => [r.threads, r]));
  sections.push(
    measuredOn(conc),
    '',
    `${String(conc.config.dims)}-d, read ratio ${String(conc.config.readRatio)}, ${String(conc.config.keys)} keys, batches of ${String(conc.config.batch)} per Piscina task, ${String(conc.config.rounds ?? 1)} rounds in which every thread count runs in turn (ops/s: the median of the rounds; speedup: the median of the per-round ratios to one thread). **shared**: workers attach to one cache; **message**: the cache lives in the main thread and workers send it each batch. Efficiency = speedup ÷ min(threads, cores). Main CPU: the main thread's CPU time ÷ wall time (Piscina's dispatch; for message, the cache too), on the same cores as the workers.`,
    '',
    table(
      ['design', 'threads', 'ops/s', 'speedup', 'efficiency', 'main CPU', 'p99 batch', 'shared ÷ message'],
      conc.rows.map((r) => [
        r.mode,
        String(r.threads),
        fmtOps(r.opsPerSec),
        fmtRatio(r.speedup),
        r.efficiency.toFixed(2),
        r.mainCpu === undefined || Number.isNaN(r.mainCpu) ? '–' : `${(100 * r.mainCpu).toFixed(0)} %`,
        fmtNs(r.batchP99Ns),
        r.mode === 'message' && shared.has(r.threads)
          ? fmtRatio(shared.get(r.threads)!.opsPerSec / r.opsPerSec)
          : '',
      ]),
      ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
    '',
  );
  written.push(
    await chart('concurrency-threads.svg', {
      $schema: SCHEMA,
      title: `threads vs total ops/s (${String(conc.config.dims)}-d, ${String(conc.machine.cores)} cores)`,
      width: 420,
      height: 260,
      data: {
        values: conc.rows.map((r) => ({
          threads: r.threads,
          design: r.mode === 'shared' ? 'shared memory (embedcache)' : 'cache in main thread, by message',
          ops: r.opsPerSec,
        })),
      },
      mark: { type: 'line', point: true },
      encoding: {
        x: {
          field: 'threads',
          type: 'quantitative',
          scale: { type: 'log', base: 2 },
          axis: { values: [...new Set(conc.rows.map((r) => r.threads))] },
        },
        y: { field: 'ops', type: 'quantitative', title: 'ops/s (all threads)', scale: { zero: true } },
        color: {
          field: 'design',
          type: 'nominal',
          title: null,
          legend: { orient: 'bottom', labelLimit: 400 },
        },
      },
    }),
  );
  sections.push(`![threads vs ops/s](${linkBase}concurrency-threads.svg)`, '');
} else sections.push(missing('concurrency', 'npm run bench:concurrency -- --threads 16'));

// ── peers ──
const peers = load<PeerRow>('peers');
sections.push('### Side by side with the alternatives', '');
if (peers) {
  const cases = peers.rows.filter((r): r is Extract<PeerRow, { table: 'case' }> => r.table === 'case');
  const memory = peers.rows.filter((r): r is Extract<PeerRow, { table: 'memory' }> => r.table === 'memory');
  const threads = peers.rows.filter(
    (r): r is Extract<PeerRow, { table: 'threads' }> => r.table === 'threads',
  );
  const row = (p: string, c: string) => cases.find((r) => r.peer === p && r.case === c);
  const rate = (p: string, c: string) => row(p, c)?.keysPerSec ?? Number.NaN;
  const ratio = (p: string, c: string) =>
    medianRatio(row('embedcache', c)?.rounds, row(p, c)?.rounds, rate('embedcache', c) / rate(p, c));
  const bpe = (p: string) => memory.find((r) => r.peer === p)?.bytesPerEntry ?? Number.NaN;
  const names = [...new Set(cases.map((r) => r.peer))];
  const label = (p: string) => cases.find((r) => r.peer === p)?.label ?? p;
  sections.push(
    measuredOn(peers),
    '',
    `${String(peers.config.dims)}-d vectors, ~${String(peers.config.textBytes)} B texts, batches of 256, median of ${String(peers.config.rounds)} interleaved rounds. Ratios are embedcache ÷ peer, the median over rounds of each round's ratio (both sides measured moments apart, so the shared machine's drift between rounds cancels): above 1 embedcache is faster; for bytes per entry, below 1 it is smaller. "fresh text" looks each key up with a newly built string, as a pipeline would (V8 caches a string's hash in the string, which flatters a Map probed with the same string object over and over).`,
    '',
    table(
      ['peer', 'get hit', 'get hit, fresh text', 'set (overwrite)', 'set (new key, full)', 'bytes/entry'],
      names.map((p) => [
        label(p),
        fmtOps(rate(p, 'get hit')),
        fmtOps(rate(p, 'get hit, fresh text')),
        fmtOps(rate(p, 'set (overwrite)')),
        fmtOps(rate(p, 'set (new key, full)')),
        String(Math.round(bpe(p))),
      ]),
    ),
    '',
    table(
      [
        'embedcache ÷',
        'get hit',
        'get hit, fresh text',
        'set (overwrite)',
        'set (new key, full)',
        'bytes/entry',
        'peer measured as',
      ],
      names
        .filter((p) => p !== 'embedcache')
        .map((p) => [
          label(p),
          fmtRatio(ratio(p, 'get hit')),
          fmtRatio(ratio(p, 'get hit, fresh text')),
          fmtRatio(ratio(p, 'set (overwrite)')),
          fmtRatio(ratio(p, 'set (new key, full)')),
          fmtRatio(bpe('embedcache') / bpe(p)),
          memory.find((r) => r.peer === p)?.measuredAs ?? '',
        ]),
    ),
    '',
  );
  if (threads.length > 0) {
    const maxT = Math.max(...threads.map((r) => r.threads));
    const tr = (p: string, t: number, op: string) =>
      threads.find((r) => r.peer === p && r.threads === t && r.op === op)?.keysPerSec ?? Number.NaN;
    sections.push(
      table(
        [
          'from worker threads',
          'get, 1 thread',
          `get, ${maxT} threads`,
          'scaling',
          `set, ${maxT} threads`,
          `embedcache ÷ it (get, ${maxT})`,
        ],
        [...new Set(threads.map((r) => r.peer))].map((p) => [
          threads.find((r) => r.peer === p)!.label,
          fmtOps(tr(p, 1, 'get')),
          fmtOps(tr(p, maxT, 'get')),
          fmtRatio(tr(p, maxT, 'get') / tr(p, 1, 'get')),
          fmtOps(tr(p, maxT, 'set')),
          p === 'embedcache' ? '' : fmtRatio(tr('embedcache', maxT, 'get') / tr(p, maxT, 'get')),
        ]),
      ),
      '',
    );
  }
  const skipped = (peers.config.skipped ?? {}) as Record<string, string>;
  for (const [what, why] of Object.entries(skipped)) sections.push(`_Skipped ${what}: ${why}_`, '');
} else sections.push(missing('peers', 'npm run bench:peers'));

sections.push(
  'Reproduce: `npm run build && npm run bench` (modest sizes), `npm run bench:scale -- --max 1000000`, `npm run bench:concurrency -- --threads 16`, then `npm run bench:report`.',
  '',
);

mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, sections.join('\n'));
console.log(`wrote ${out}`);
for (const w of written) console.log(`wrote ${w}`);
