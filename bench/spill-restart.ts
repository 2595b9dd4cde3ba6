/**
 * Warm restart and promotion through the cache's public API (not part of npm test): run with
 * `npx tsx bench/spill-restart.ts [--entries 100000] [--gets 10000] [--promote 20000]`.
 *
 * Why fresh processes: a restart is a new process. Measuring the reopen in the process that
 * wrote the file would find lmdb-js's environment, the JIT and the heap already warm, and
 * report an open time no user sees. So the parent only writes the file; each measurement runs
 * in its own child (bench/lib/child.ts) that opens the path cold (the OS page cache is warm:
 * the file was just written; a cold disk adds its seek time to the first get).
 *
 *   1. write    parent: EmbeddingCache.open({ maxEntries: 4096, spill: { persist: true } }),
 *               set() N entries of 768-d, close() (close waits until every write is durable).
 *   2. restart  child: open time, first-hit latency, then G random gets (disk hits, promoted;
 *               a key drawn twice is a memory hit the second time); file bytes per entry.
 *   3. promote  child per mode: tiny memory (1024 entries) over the warm file, get() of keys
 *               that are only on disk, single thread, median of 3 runs of P distinct keys.
 *               With persist: true a promoted entry pushed out again is already on disk; with
 *               persist: false the eviction hook writes it out again (its cost shows here).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { EmbeddingCache } from '../src/index.js';
import { childParams, runChild, serveChild } from './lib/child.js';
import { machineInfo, machineLine } from './lib/machine.js';
import { fmtInt, median } from './lib/results.js';
import { prng, VectorSource } from './lib/texts.js';

const DIMS = 768;
const self = fileURLToPath(import.meta.url);

type Params =
  | { kind: 'restart'; path: string; entries: number; gets: number }
  | { kind: 'promote'; path: string; entries: number; perRun: number; persist: boolean };

interface RestartReport {
  /** Loading the spill tier's modules (lmdb-js and its native addon): once per process. */
  loadMs: number;
  openMs: number;
  firstHitUs: number;
  getsMs: number;
  gets: number;
  diskHits: number;
  wrong: number;
  fileBytes: number;
  liveBytes: number;
  fileEntries: number;
}

interface PromoteReport {
  runs: { ops: number; ms: number; diskHits: number; spillWrites: number }[];
  wrong: number;
}

const textOf = (i: number): string => `spill-restart bench entry #${i}: some chunk of a document`;

/** Entry i's vector has v[0] = i, so a read can be checked cheaply. */
const vectors = new VectorSource(DIMS);

/** Deterministic shuffle, so every run of the bench reads the same keys. */
function shuffled(n: number, seed: number): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  const random = prng(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
  return a;
}

async function restart(p: Extract<Params, { kind: 'restart' }>): Promise<RestartReport> {
  // The cache loads the spill tier lazily on its first open; load it here first so that the
  // open below is the open alone (the load is reported apart).
  const l0 = performance.now();
  await import('../src/spill/tier.js');
  const loadMs = performance.now() - l0;
  const t0 = performance.now();
  const cache = await EmbeddingCache.open({ spill: { path: p.path, persist: true } });
  const t1 = performance.now();
  const order = shuffled(p.entries, 0x5eed);
  const firstKey = order[0]!;
  const t2 = performance.now();
  const first = cache.get(textOf(firstKey));
  const t3 = performance.now();
  let wrong = first?.[0] === firstKey ? 0 : 1;

  // Random gets with replacement over the whole file.
  const random = prng(0x12345);
  const keys = Int32Array.from({ length: p.gets }, () => Math.floor(random() * p.entries));
  const texts = Array.from(keys, textOf); // hashing is timed, building strings is not
  const spillHits0 = cache.stats().spill!.hits;
  const g0 = performance.now();
  for (let i = 0; i < p.gets; i++) {
    const v = cache.get(texts[i]!);
    if (v?.[0] !== keys[i]) wrong++;
  }
  const g1 = performance.now();
  const s = cache.stats();
  await cache.close();
  return {
    loadMs,
    openMs: t1 - t0,
    firstHitUs: (t3 - t2) * 1000,
    getsMs: g1 - g0,
    gets: p.gets,
    diskHits: s.spill!.hits - spillHits0,
    wrong,
    fileBytes: statSync(join(p.path, 'data.mdb')).size,
    liveBytes: s.spill!.bytes,
    fileEntries: s.spill!.entries,
  };
}

async function promote(p: Extract<Params, { kind: 'promote' }>): Promise<PromoteReport> {
  const cache = await EmbeddingCache.open({ maxEntries: 1024, spill: { path: p.path, persist: p.persist } });
  const order = shuffled(p.entries, 0xbeef);
  const runs: PromoteReport['runs'] = [];
  let wrong = 0;
  // Run 0 warms the JIT and is not reported; runs 1-3 each read perRun keys never read before
  // in this process, so every get is a memory miss that the disk answers.
  for (let r = 0; r < 4; r++) {
    const from = r * p.perRun;
    const texts: string[] = [];
    for (let i = from; i < from + p.perRun; i++) texts.push(textOf(order[i]!));
    const before = cache.stats().spill!;
    const t0 = performance.now();
    for (let i = 0; i < texts.length; i++) {
      const v = cache.get(texts[i]!);
      if (v?.[0] !== order[from + i]) wrong++;
    }
    const t1 = performance.now();
    await cache.flush(); // with persist: false, the re-spilled evictions; not timed above
    const after = cache.stats().spill!;
    if (r > 0)
      runs.push({
        ops: texts.length,
        ms: t1 - t0,
        diskHits: after.hits - before.hits,
        spillWrites: after.writes - before.writes,
      });
  }
  await cache.close();
  return { runs, wrong };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      entries: { type: 'string', default: '100000' },
      gets: { type: 'string', default: '10000' },
      promote: { type: 'string', default: '20000' },
    },
  });
  const entries = Number(values.entries);
  const gets = Number(values.gets);
  const perRun = Number(values.promote);
  if (!(entries > 0 && gets > 0 && perRun > 0 && perRun * 4 <= entries)) {
    throw new RangeError(
      '--entries, --gets and --promote must be positive, with 4 × --promote <= --entries.',
    );
  }
  const m = machineInfo();
  console.log(`spill-restart: ${machineLine(m)}, ${DIMS}-d, ${fmtInt(entries)} entries`);

  const path = mkdtempSync(join(tmpdir(), 'embedcache-spill-restart-'));
  try {
    // 1. Write through the cache API.
    const w0 = performance.now();
    const cache = await EmbeddingCache.open({ maxEntries: 4096, spill: { path, persist: true } });
    for (let i = 0; i < entries; i++) cache.set(textOf(i), vectors.at(i));
    const w1 = performance.now();
    await cache.close();
    const w2 = performance.now();
    console.log(
      `write    set() × ${fmtInt(entries)} + close(): ${(w2 - w0).toFixed(0)} ms (sets ${(w1 - w0).toFixed(0)} ms, close/flush ${(w2 - w1).toFixed(0)} ms) → ${fmtInt(entries / ((w2 - w0) / 1000))} entries/s durable`,
    );

    // 2. Restart in a fresh process.
    const r = await runChild<Params, RestartReport>(self, { kind: 'restart', path, entries, gets });
    console.log(
      `restart  open ${r.openMs.toFixed(2)} ms (fresh process, ${fmtInt(r.fileEntries)} records in the file; loading the LMDB modules before it: ${r.loadMs.toFixed(1)} ms, once per process), first hit ${r.firstHitUs.toFixed(0)} µs`,
    );
    console.log(
      `restart  ${fmtInt(r.gets)} random gets: ${r.getsMs.toFixed(1)} ms (${((r.getsMs * 1000) / r.gets).toFixed(2)} µs/get, ${fmtInt(r.gets / (r.getsMs / 1000))} gets/s; ${fmtInt(r.diskHits)} from disk, the rest memory hits on keys drawn twice)`,
    );
    console.log(
      `size     data.mdb ${fmtInt(r.fileBytes)} B = ${fmtInt(r.fileBytes / r.fileEntries)} B/entry; live pages ${fmtInt(r.liveBytes / r.fileEntries)} B/entry (vector alone: ${DIMS * 4} B)`,
    );

    // 3. Promotion throughput, one fresh process per mode.
    let wrong = r.wrong;
    for (const persist of [true, false]) {
      const p = await runChild<Params, PromoteReport>(self, {
        kind: 'promote',
        path,
        entries,
        perRun,
        persist,
      });
      wrong += p.wrong;
      const rates = p.runs.map((run) => run.ops / (run.ms / 1000));
      const runs = p.runs
        .map(
          (run, i) =>
            `${fmtInt(rates[i]!)} (${fmtInt(run.diskHits)} disk hits, ${fmtInt(run.spillWrites)} re-spilled)`,
        )
        .join(', ');
      console.log(
        `promote  persist: ${String(persist).padEnd(5)} 1 thread, maxEntries 1024, keys only on disk: median ${fmtInt(median(rates))} ops/s (${(1e6 / median(rates)).toFixed(2)} µs/op); runs: ${runs}`,
      );
    }
    if (wrong !== 0) {
      console.log(`ERROR: ${wrong} reads returned a wrong or missing vector`);
      process.exitCode = 1;
    }
  } finally {
    rmSync(path, { recursive: true, force: true });
  }
}

const params = childParams<Params>();
if (params === undefined) {
  await main();
} else {
  await serveChild<Params, RestartReport | PromoteReport>(params, (p) =>
    p.kind === 'restart' ? restart(p) : promote(p),
  );
}
