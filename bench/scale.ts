/**
 * bench:scale — does the cost of the cache stay flat as it grows from 10k to 1M entries?
 *
 *   npm run bench:scale                      # 10k and 100k entries of 768-d (a minute or so)
 *   npm run bench:scale -- --max 1000000     # adds 1M (3 GB of vectors; needs ~4 GB free)
 *   flags: --max N | --sizes 10k,100k,1M, --dims 768, --sample 20000, --no-prefault, --quick,
 *          --out path
 *
 * Each size runs in a fresh process (bench/lib/child.ts): a cache sized for it is filled with
 * unique ~1.1 KB texts, then a sample of keys spread over the whole range is read back.
 *
 * - insert time: only the set() calls are timed; texts are built in batches outside the clock.
 * - get latency: each get of the sample is timed alone (process.hrtime.bigint around the call)
 *   into a perf_hooks histogram; the first 2,000 gets warm the path and are not recorded. The
 *   clock read itself costs some tens of ns, the same at every size, so the p99 ratio between
 *   sizes is the figure to watch, not the absolute nanoseconds.
 * - bytes per entry: stats().memoryBytes / entries.
 * - GC: every 'gc' PerformanceObserver entry of the insert and get phases (setup apart); the
 *   cache keeps no JS object per entry, so pauses should not grow with the entry count.
 */
import { fileURLToPath } from 'node:url';
import {
  constants as perfConstants,
  createHistogram,
  performance,
  PerformanceObserver,
} from 'node:perf_hooks';
import { EmbeddingCache } from '../src/index.js';
import { boolFlag, intFlag, listFlag, parseFlags, strFlag } from './lib/args.js';
import { childParams, collect, runChild, serveChild, tick } from './lib/child.js';
import { progress } from './lib/progress.js';
import { fmtCount, fmtNs, fmtOps, fmtRatio, outPath, printTable, writeResults } from './lib/results.js';
import { bytesFor, vectorBytes } from './lib/sizing.js';
import { TextSource, VectorSource } from './lib/texts.js';

interface Params {
  entries: number;
  dims: number;
  sample: number;
  /** The cache's prefault option (--no-prefault turns it off, to see what it saves). */
  prefault: boolean;
}

export interface GcSummary {
  count: number;
  totalMs: number;
  maxMs: number;
  /** Pauses by kind: minor (scavenge), major (mark-compact), incremental, weakcb. */
  byKind: Record<string, { count: number; totalMs: number; maxMs: number }>;
}

export interface ScaleRow {
  entries: number;
  dims: number;
  maxBytes: number;
  insertMs: number;
  insertsPerSec: number;
  sample: number;
  getP50Ns: number;
  getP99Ns: number;
  getP999Ns: number;
  getMeanNs: number;
  getMaxNs: number;
  memoryBytes: number;
  bytesPerEntry: number;
  /** bytesPerEntry / (dims × 4). */
  overhead: number;
  rssBytes: number;
  gcInsert: GcSummary;
  gcGet: GcSummary;
  /** Pauses while the harness built its text pool and opened the cache (not in the totals). */
  gcSetup: GcSummary;
  /** Insert + get phases. */
  gcTotalMs: number;
  gcMaxMs: number;
}

const GC_KINDS: Record<number, string> = {
  [perfConstants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [perfConstants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [perfConstants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [perfConstants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

interface GcEvent {
  start: number;
  duration: number;
  kind: string;
}

function summarize(events: GcEvent[], from: number, to: number): GcSummary {
  const s: GcSummary = { count: 0, totalMs: 0, maxMs: 0, byKind: {} };
  for (const e of events) {
    if (e.start < from || e.start >= to) continue;
    s.count++;
    s.totalMs += e.duration;
    s.maxMs = Math.max(s.maxMs, e.duration);
    const k = (s.byKind[e.kind] ??= { count: 0, totalMs: 0, maxMs: 0 });
    k.count++;
    k.totalMs += e.duration;
    k.maxMs = Math.max(k.maxMs, e.duration);
  }
  return s;
}

// Small batches: the texts of a batch die young (a scavenge copies at most ~1 MB of them), so the
// harness adds little GC work of its own to the pauses being measured.
const INSERT_BATCH = 1024;
const WARM_GETS = 2000;

async function child({ entries, dims, sample, prefault }: Params): Promise<ScaleRow> {
  const gcEvents: GcEvent[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
      gcEvents.push({ start: e.startTime, duration: e.duration, kind: GC_KINDS[kind ?? -1] ?? 'other' });
    }
  });
  obs.observe({ entryTypes: ['gc'] });
  const setupFrom = performance.now();
  const texts = new TextSource(4096);
  const vectors = new VectorSource(dims);
  collect();
  await tick();

  const maxBytes = bytesFor(entries, dims);
  const cache = await EmbeddingCache.open({ maxBytes, expectedEntries: entries, prefault });

  // ── Insert ──
  const insertFrom = performance.now();
  const bar = progress(`insert ${fmtCount(entries)} × ${dims}-d`, entries);
  let insertNs = 0n;
  for (let start = 0; start < entries; start += INSERT_BATCH) {
    const n = Math.min(INSERT_BATCH, entries - start);
    const batch = texts.texts(start, n);
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < n; k++) cache.set(batch[k]!, vectors.at(start + k));
    insertNs += process.hrtime.bigint() - t0;
    bar.update(start + n);
  }
  bar.stop();
  await tick();
  const insertTo = performance.now();
  const st0 = cache.stats();
  if (st0.entries !== entries)
    throw new Error(`expected ${entries} entries after the inserts, the cache holds ${st0.entries}`);

  // ── Get latency over a spread-out sample ──
  const n = Math.min(sample, entries);
  const pick = (k: number, salt: number) => Math.floor(((k + 0.5) * entries) / n + salt) % entries;
  const warmTexts = Array.from({ length: Math.min(WARM_GETS, n) }, (_, k) =>
    texts.text(pick(k, (0.25 * entries) / n)),
  );
  const sampleTexts = Array.from({ length: n }, (_, k) => texts.text(pick(k, 0)));
  const hist = createHistogram();
  let misses = 0;
  const getFrom = performance.now();
  for (const t of warmTexts) if (cache.get(t) === undefined) misses++;
  const gbar = progress(`get sample of ${fmtCount(n)}`, n);
  for (let k = 0; k < n; k++) {
    const t = sampleTexts[k]!;
    const t0 = process.hrtime.bigint();
    const v = cache.get(t);
    const dt = process.hrtime.bigint() - t0;
    hist.record(dt > 0n ? dt : 1n);
    if (v === undefined) misses++;
    if ((k & 4095) === 0) gbar.update(k);
  }
  gbar.stop();
  await tick();
  const getTo = performance.now();
  if (misses > 0)
    throw new Error(`${misses} gets of inserted keys missed (the cache must hold every entry here)`);

  const st = cache.stats();
  const rssBytes = process.memoryUsage().rss;
  await cache.close();
  await tick();
  obs.disconnect();

  const gcInsert = summarize(gcEvents, insertFrom, insertTo);
  const gcGet = summarize(gcEvents, getFrom, getTo);
  const gcSetup = summarize(gcEvents, setupFrom, insertFrom);
  const insertMs = Number(insertNs) / 1e6;
  return {
    entries,
    dims,
    maxBytes,
    insertMs,
    insertsPerSec: entries / (insertMs / 1000),
    sample: n,
    getP50Ns: hist.percentile(50),
    getP99Ns: hist.percentile(99),
    getP999Ns: hist.percentile(99.9),
    getMeanNs: hist.mean,
    getMaxNs: hist.max,
    memoryBytes: st.memoryBytes,
    bytesPerEntry: st.memoryBytes / entries,
    overhead: st.memoryBytes / entries / vectorBytes(dims),
    rssBytes,
    gcInsert,
    gcGet,
    gcSetup,
    gcTotalMs: gcInsert.totalMs + gcGet.totalMs,
    gcMaxMs: Math.max(gcInsert.maxMs, gcGet.maxMs),
  };
}

const params = childParams<Params>();
if (params !== undefined) {
  await serveChild(params, child);
} else {
  const flags = parseFlags({
    max: { type: 'string' },
    sizes: { type: 'string' },
    dims: { type: 'string' },
    sample: { type: 'string' },
    quick: { type: 'boolean' },
    'no-prefault': { type: 'boolean' },
    out: { type: 'string' },
    help: { type: 'boolean' },
  });
  if (boolFlag(flags, 'help')) {
    console.log(
      'npm run bench:scale -- [--max 1000000 | --sizes 10k,100k,1M] [--dims 768] [--sample 20000] [--no-prefault] [--quick] [--out path]',
    );
    process.exit(0);
  }
  const quick = boolFlag(flags, 'quick');
  const max = intFlag(flags, 'max', quick ? 100_000 : 100_000, 1_000);
  const sizes = listFlag(
    flags,
    'sizes',
    [10_000, 100_000, 1_000_000].filter((s) => s <= max),
  );
  const dims = intFlag(flags, 'dims', 768, 1, 65_000);
  const sample = intFlag(flags, 'sample', quick ? 5_000 : 20_000, 100);
  const prefault = !boolFlag(flags, 'no-prefault');
  const self = fileURLToPath(import.meta.url);
  const rows: ScaleRow[] = [];
  for (const entries of sizes) {
    process.stderr.write(`  scale: ${fmtCount(entries)} × ${dims}-d …\n`);
    // Above ~1M entries the harness's text pool and the histogram still fit a default heap;
    // the vectors live outside it (shared memory), so no --max-old-space-size is needed.
    rows.push(await runChild<Params, ScaleRow>(self, { entries, dims, sample, prefault }));
  }
  const first = rows[0];
  printTable(
    `embedcache at scale, ${dims}-d, 1 thread (fresh process per size)${prefault ? '' : ', prefault off'}`,
    [
      'entries',
      'insert',
      'inserts/s',
      'get p50',
      'get p99',
      'p99 ÷ first',
      'B/entry',
      '× floats',
      'GC total',
      'GC max',
    ],
    rows.map((r) => [
      fmtCount(r.entries),
      `${(r.insertMs / 1000).toFixed(2)} s`,
      fmtOps(r.insertsPerSec),
      fmtNs(r.getP50Ns),
      fmtNs(r.getP99Ns),
      fmtRatio(first ? r.getP99Ns / first.getP99Ns : Number.NaN),
      String(Math.round(r.bytesPerEntry)),
      r.overhead.toFixed(3),
      `${r.gcTotalMs.toFixed(1)} ms`,
      `${r.gcMaxMs.toFixed(2)} ms`,
    ]),
  );
  const path = writeResults(
    'scale',
    outPath('scale', strFlag(flags, 'out'), quick),
    { sizes, dims, sample, quick, prefault, textBytes: '≈1.1 KB (200 B – 2 KB body + unique header)' },
    rows,
    [
      'Each size runs in a fresh Node process; only set() calls are inside the insert clock.',
      'Get latency: one hrtime.bigint() pair per get into perf_hooks.createHistogram(); includes the clock read overhead, equal at every size.',
      'GC: PerformanceObserver("gc") pauses during the insert and get phases (the harness builds texts there too, in small batches); setup pauses are recorded apart.',
    ],
  );
  console.log(`\nwrote ${path}`);
}
