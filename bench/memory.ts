/**
 * bench:memory — is stats().memoryBytes the memory the cache really costs?
 *
 *   npm run bench:memory [-- --entries 1000,10000,100000 --dims 384,768,1536 --quick --out file.json]
 *
 * For each (entries, dims) row a fresh Node process (bench/lib/child.ts) opens caches sized for
 * the row, inserts the entries, and compares the sum of their stats().memoryBytes with the
 * growth of its resident set. Why RSS: the cache's memory is growable SharedArrayBuffers, which
 * Node reports in process.memoryUsage().rss but not in .arrayBuffers or .external; RSS is also
 * what an operator sees. Why a process per row: RSS is process-wide, and a row must not inherit
 * another's heap.
 *
 * Keeping the harness out of the figure (each step fixed a bias seen while building this):
 * - Replicas. A process's RSS wanders by a few MiB on its own (V8 returns pooled heap pages,
 *   malloc trims), which is most of a 2 MiB cache. So a row opens as many identical caches as
 *   it takes to reach ~REPLICA_TARGET bytes (each with `entries` entries) and compares the sums:
 *   the same per-cache accounting, measured against a change large enough to read.
 * - A dry run first: one cache of the row's size is filled and closed before the baseline, so
 *   code, WebAssembly, JIT, malloc arenas and V8's heap are at their working size already.
 * - A cross-check: after the second reading the caches are closed and collected and RSS is read
 *   again; the drop ("released") is what they held, read across a span in which nothing else
 *   allocates. It misses committed pages the OS never backed (never-written parts of a page).
 * - Texts are built before the baseline and stay alive to the end: a loop that built and dropped
 *   them would make V8 grow and shrink its heap inside the span.
 * - Readings wait for RSS to settle (settledMemory() in bench/lib/child.ts).
 * - V8 may still resize its heap: measured = ΔRSS − ΔheapTotal (heapTotal = memory V8 has
 *   committed for the JS heap). The raw error against ΔRSS is recorded too, and ΔheapUsed shows
 *   whether live JS objects grew (a cache keeping per-entry JS objects could not hide there).
 *
 * error % = (memoryBytes − measured) / measured: negative means the cache reports less than it costs.
 */
import { fileURLToPath } from 'node:url';
import { EmbeddingCache } from '../src/index.js';
import { boolFlag, listFlag, parseFlags, strFlag } from './lib/args.js';
import { childParams, runChild, serveChild, settledMemory } from './lib/child.js';
import { fmtBytes, fmtCount, fmtPct, outPath, printTable, writeResults } from './lib/results.js';
import { bytesFor, vectorBytes } from './lib/sizing.js';
import { TextSource, VectorSource } from './lib/texts.js';

interface Params {
  entries: number;
  dims: number;
}

export interface MemoryRow {
  entries: number;
  dims: number;
  /** Identical caches measured together (see "Replicas" above). */
  replicas: number;
  /** maxBytes of each cache. */
  maxBytes: number;
  /** Sum of stats().memoryBytes over the replicas after the inserts. */
  memoryBytes: number;
  /** RSS growth from before the first open() to after the last insert (settled, after GC). */
  rssGrowth: number;
  /** JS heap committed (heapTotal) growth over the same span: V8 resizing its heap, not the cache. */
  heapTotalGrowth: number;
  /** Live JS objects (heapUsed) growth: a cache keeping per-entry JS objects would show here. */
  heapUsedGrowth: number;
  /** ΔRSS − ΔheapTotal: growth outside the JS heap, where the shared memory lives. */
  measuredBytes: number;
  /** arrayBuffers growth (growable SharedArrayBuffers are expected NOT to show here). */
  arrayBuffersGrowth: number;
  /** (memoryBytes − measuredBytes) / measuredBytes × 100: the headline figure. */
  errorPct: number;
  /** (memoryBytes − rssGrowth) / rssGrowth × 100, V8 heap resizing left in. */
  errorVsRssPct: number;
  /** RSS given back when the caches are closed and collected (a span in which nothing allocates). */
  rssReleased: number;
  /** (memoryBytes − rssReleased) / rssReleased × 100. */
  errorVsReleasedPct: number;
  /** memoryBytes / (entries × replicas). */
  bytesPerEntry: number;
  /** bytesPerEntry / (dims × 4): 1.0 would be the floats alone. */
  overhead: number;
}

/** Replicas are added until their expected size reaches this. */
const REPLICA_TARGET = 192 * 1024 * 1024;
const MAX_REPLICAS = 128;

/*
 * The steps below live in separate functions on purpose: a local of an async function stays
 * reachable until the function returns (it sits in the suspended frame), so a cache held in a
 * `const` or a loop variable of child() would survive its close() and blur the readings.
 */

async function fill(
  texts: readonly string[],
  vectors: VectorSource,
  maxBytes: number,
): Promise<EmbeddingCache> {
  const cache = await EmbeddingCache.open({ maxBytes, expectedEntries: texts.length });
  for (let i = 0; i < texts.length; i++) cache.set(texts[i]!, vectors.at(i));
  return cache;
}

async function dryRun(texts: readonly string[], vectors: VectorSource, maxBytes: number): Promise<void> {
  await (await fill(texts, vectors, maxBytes)).close();
}

async function fillReplicas(
  texts: readonly string[],
  vectors: VectorSource,
  maxBytes: number,
  replicas: number,
): Promise<EmbeddingCache[]> {
  const caches: EmbeddingCache[] = [];
  for (let r = 0; r < replicas; r++) caches.push(await fill(texts, vectors, maxBytes));
  return caches;
}

function sumMemoryBytes(caches: readonly EmbeddingCache[], entries: number): number {
  return caches.reduce((sum, c) => {
    const st = c.stats();
    if (st.entries !== entries) throw new Error(`expected ${entries} entries, a cache holds ${st.entries}`);
    return sum + st.memoryBytes;
  }, 0);
}

async function child({ entries, dims }: Params): Promise<MemoryRow> {
  const texts = new TextSource(2048).texts(0, entries);
  const vectors = new VectorSource(dims);
  const maxBytes = bytesFor(entries, dims);
  const replicas = Math.max(
    1,
    Math.min(MAX_REPLICAS, Math.ceil(REPLICA_TARGET / (entries * (vectorBytes(dims) + 64)))),
  );

  await dryRun(texts, vectors, maxBytes);
  const m0 = await settledMemory();
  const caches = await fillReplicas(texts, vectors, maxBytes, replicas);
  const m2 = await settledMemory();
  const memoryBytes = sumMemoryBytes(caches, entries);
  // Release: close every cache, drop it, and read again. Nothing allocates in this span, so the
  // drop in RSS is what the caches held (shared memory and their per-instance objects).
  await Promise.all(caches.map((c) => c.close()));
  caches.length = 0;
  const m3 = await settledMemory();
  // The texts stay reachable until after the last reading.
  if (texts.length !== entries) throw new Error('unreachable');

  const rssGrowth = m2.rss - m0.rss;
  const heapTotalGrowth = m2.heapTotal - m0.heapTotal;
  const measuredBytes = rssGrowth - heapTotalGrowth;
  const bytesPerEntry = memoryBytes / (entries * replicas);
  return {
    entries,
    dims,
    replicas,
    maxBytes,
    memoryBytes,
    rssGrowth,
    heapTotalGrowth,
    heapUsedGrowth: m2.heapUsed - m0.heapUsed,
    measuredBytes,
    arrayBuffersGrowth: m2.arrayBuffers - m0.arrayBuffers,
    errorPct: ((memoryBytes - measuredBytes) / measuredBytes) * 100,
    errorVsRssPct: ((memoryBytes - rssGrowth) / rssGrowth) * 100,
    rssReleased: m2.rss - m3.rss,
    errorVsReleasedPct: ((memoryBytes - (m2.rss - m3.rss)) / (m2.rss - m3.rss)) * 100,
    bytesPerEntry,
    overhead: bytesPerEntry / vectorBytes(dims),
  };
}

const params = childParams<Params>();
if (params !== undefined) {
  await serveChild(params, child);
} else {
  const flags = parseFlags({
    entries: { type: 'string' },
    dims: { type: 'string' },
    quick: { type: 'boolean' },
    out: { type: 'string' },
    help: { type: 'boolean' },
  });
  if (boolFlag(flags, 'help')) {
    console.log(
      'npm run bench:memory -- [--entries 1000,10000,100000] [--dims 384,768,1536] [--quick] [--out path]',
    );
    process.exit(0);
  }
  const quick = boolFlag(flags, 'quick');
  const entriesList = listFlag(flags, 'entries', quick ? [1_000, 10_000] : [1_000, 10_000, 100_000]);
  const dimsList = listFlag(flags, 'dims', quick ? [768] : [384, 768, 1536]);
  const self = fileURLToPath(import.meta.url);
  const rows: MemoryRow[] = [];
  for (const dims of dimsList) {
    for (const entries of entriesList) {
      process.stderr.write(`  memory: ${fmtCount(entries)} × ${dims}-d …\n`);
      rows.push(await runChild<Params, MemoryRow>(self, { entries, dims }));
    }
  }
  printTable(
    'stats().memoryBytes vs measured RSS growth (fresh process per row)',
    [
      'entries',
      'dims',
      'caches',
      'memoryBytes',
      'ΔRSS',
      'ΔJS heap',
      'measured',
      'error',
      'error vs ΔRSS',
      'released',
      'error vs released',
      'ΔJS live',
      'B/entry',
      '× floats',
    ],
    rows.map((r) => [
      fmtCount(r.entries),
      String(r.dims),
      String(r.replicas),
      fmtBytes(r.memoryBytes),
      fmtBytes(r.rssGrowth),
      fmtBytes(r.heapTotalGrowth),
      fmtBytes(r.measuredBytes),
      fmtPct(r.errorPct),
      fmtPct(r.errorVsRssPct),
      fmtBytes(r.rssReleased),
      fmtPct(r.errorVsReleasedPct),
      fmtBytes(r.heapUsedGrowth),
      String(Math.round(r.bytesPerEntry)),
      r.overhead.toFixed(3),
    ]),
  );
  const path = writeResults(
    'memory',
    outPath('memory', strFlag(flags, 'out'), quick),
    { entries: entriesList, dims: dimsList, quick },
    rows,
    [
      'Each row runs in a fresh Node process with --expose-gc, after a dry run of the same size; readings follow a full GC and wait for RSS to settle.',
      `Small rows measure several identical caches at once (column "caches", up to ~${REPLICA_TARGET / 1024 ** 2} MiB in all) so RSS noise of a few MiB does not swamp them.`,
      'error % = (Σ memoryBytes − measured) / measured, measured = ΔRSS − ΔheapTotal; the raw error vs ΔRSS is recorded too.',
    ],
  );
  console.log(`\nwrote ${path}`);
}
