/**
 * bench:concurrency — many threads, one cache.
 *
 *   npm run build && npm run bench:concurrency -- --threads 16
 *   flags: --threads N (default 2 × cores)  --ops N (per thread count, default 400k)  --dim 768
 *          --read-ratio 0.5  --keys 10000  --batch 256  --modes shared,message  --json  --out path
 *          --counts 2,16 (only these thread counts, each at most 256, in place of 1, 2, 4, …
 *          --threads; speedup needs 1 among them)
 *
 * For thread counts 1, 2, 4, … up to --threads, a Piscina pool of that many workers
 * (bench/workers/cache-worker.mjs, which loads the built library from dist/) runs batches of
 * `--batch` operations against one cache prefilled with every key, so gets hit and sets
 * overwrite. Two designs run the same workload:
 *
 *   shared   every worker attaches to the cache (EmbeddingCache.attach(handle)) and works on
 *            the shared memory directly — embedcache's design.
 *   message  the cache lives in the main thread and workers send it each batch by message
 *            (one BroadcastChannel message per batch each way, vectors packed in one array).
 *
 * Columns: total ops/s (keys, all threads), speedup over the same design at 1 thread,
 * efficiency = speedup ÷ min(threads, cores) (1.0 = perfect use of the cores there are), and the
 * p99 of a batch's time inside its worker (for `message`, that includes the round trip).
 *
 * How tasks are fed: 2 × threads tasks are kept in flight so no worker waits on the dispatcher.
 * The main thread still shares the machine's cores with the workers (it dispatches, and for
 * `message` it is the server), which is part of what the table shows. Before the clock starts,
 * every worker of the pool has run WARM_BATCHES batches of its own (started, attached, JIT warm).
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { createHistogram } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { BroadcastChannel } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { EmbeddingCache } from '../src/index.js';
import { boolFlag, intFlag, listFlag, numFlag, parseFlags, strFlag } from './lib/args.js';
import { requireBuild } from './lib/build.js';
import { machineInfo, machineLine } from './lib/machine.js';
import { progress } from './lib/progress.js';
import { fmtNs, fmtOps, fmtRatio, outPath, printTable, writeResults } from './lib/results.js';
import { packTexts } from './lib/shared-texts.js';
import { bytesFor } from './lib/sizing.js';
import { chunkTexts } from './lib/texts.js';

export type Mode = 'shared' | 'message';

export interface ConcurrencyRow {
  mode: Mode;
  threads: number;
  ops: number;
  wallMs: number;
  opsPerSec: number;
  /** opsPerSec ÷ opsPerSec of the same mode at 1 thread. */
  speedup: number;
  /** speedup ÷ min(threads, cores). */
  efficiency: number;
  batchP50Ns: number;
  batchP99Ns: number;
  gets: number;
  hits: number;
  sets: number;
}

interface TaskResult {
  ns: number;
  gets: number;
  hits: number;
  sets: number;
  checksum: number;
  /** threadId of the worker that ran the batch. */
  thread: number;
}

/** Batches each worker runs before the clock starts, and the longest the warm-up may take. */
const WARM_BATCHES = 16;
const WARM_LIMIT_MS = 60_000;

export const WORKER_URL = new URL('./workers/cache-worker.mjs', import.meta.url);

/** 1, 2, 4, … below max, then max itself. */
export function threadCounts(max: number): number[] {
  const out: number[] = [];
  for (let t = 1; t < max; t *= 2) out.push(t);
  out.push(max);
  return out;
}

/**
 * Serves the `message` design: one BroadcastChannel per worker thread (named after its
 * threadId), each batch answered with one message carrying the hit count and the found vectors
 * packed back to back.
 */
class MainThreadServer {
  private readonly channels = new Map<number, BroadcastChannel>();

  constructor(
    private readonly cache: EmbeddingCache,
    private readonly dims: number,
    private readonly prefix: string,
  ) {}

  watch(pool: Piscina): void {
    for (const w of pool.threads) this.subscribe(w.threadId);
    pool.on('workerCreate', (w: { id: number }) => this.subscribe(w.id));
  }

  private subscribe(threadId: number): void {
    if (this.channels.has(threadId)) return;
    const ch = new BroadcastChannel(`${this.prefix}-${threadId}`);
    ch.onmessage = (ev) => {
      const { id, gets, sets, vecs } = (ev as MessageEvent).data as {
        id: number;
        gets: string[];
        sets: string[];
        vecs: Float32Array;
      };
      const d = this.dims;
      const found = new Float32Array(gets.length * d);
      let hits = 0;
      for (const t of gets) {
        const v = this.cache.get(t);
        if (v !== undefined) found.set(v, d * hits++);
      }
      for (let s = 0; s < sets.length; s++) this.cache.set(sets[s]!, vecs.subarray(s * d, (s + 1) * d));
      ch.postMessage({ id, hits, out: found.subarray(0, hits * d) });
    };
    this.channels.set(threadId, ch);
  }

  close(): void {
    for (const ch of this.channels.values()) ch.close();
    this.channels.clear();
  }
}

export interface RunConfig {
  threads: number[];
  ops: number;
  dims: number;
  readRatio: number;
  keys: number;
  batch: number;
  modes: Mode[];
  quiet: boolean;
}

export async function runConcurrency(cfg: RunConfig): Promise<ConcurrencyRow[]> {
  requireBuild();
  const cores = os.availableParallelism();
  const texts = chunkTexts(0, cfg.keys);
  const packed = packTexts(texts);
  const cache = await EmbeddingCache.open({
    maxBytes: bytesFor(cfg.keys, cfg.dims),
    expectedEntries: cfg.keys,
  });
  const prefill = new Float32Array(cfg.dims).fill(0.5);
  for (let i = 0; i < cfg.keys; i++) {
    prefill[0] = i;
    cache.set(texts[i]!, prefill);
  }
  const prefix = `embedcache-bench-${process.pid}`;
  const rows: ConcurrencyRow[] = [];
  const tasks = Math.max(1, Math.ceil(cfg.ops / cfg.batch));
  let seed = 1;

  for (const mode of cfg.modes) {
    let single = Number.NaN;
    for (const threads of cfg.threads) {
      const server = mode === 'message' ? new MainThreadServer(cache, cfg.dims, prefix) : undefined;
      const pool = new Piscina({
        filename: WORKER_URL.href,
        minThreads: threads,
        maxThreads: threads,
        idleTimeout: 60_000,
        workerData: {
          mode,
          handle: mode === 'shared' ? cache.handle : undefined,
          texts: packed,
          dims: cfg.dims,
          readRatio: cfg.readRatio,
          channelPrefix: prefix,
        },
      });
      server?.watch(pool);

      // Warm-up, until every worker has started (attach, decode texts) and run WARM_BATCHES
      // batches of its own, so the JIT has seen its loop. A fixed number of warm-up tasks is not
      // enough: with 16 workers on 2 cores, the first workers up finished them all while the
      // others were still loading modules, and that loading then ran inside the timed window.
      const warmed = new Map<number, number>();
      const warmDeadline = performance.now() + WARM_LIMIT_MS;
      while (
        (warmed.size < threads || [...warmed.values()].some((n) => n < WARM_BATCHES)) &&
        performance.now() < warmDeadline
      ) {
        const rs = (await Promise.all(
          Array.from({ length: threads * 2 }, () => pool.run({ seed: seed++, ops: cfg.batch })),
        )) as TaskResult[];
        for (const r of rs) warmed.set(r.thread, (warmed.get(r.thread) ?? 0) + 1);
      }
      const cold = threads - [...warmed.values()].filter((n) => n >= WARM_BATCHES).length;
      if (cold > 0)
        console.warn(
          `warning: ${mode} ${threads} threads: ${cold} worker(s) had not run ${WARM_BATCHES} batches after ${WARM_LIMIT_MS / 1000} s of warm-up; timing anyway`,
        );

      const hist = createHistogram();
      let gets = 0;
      let hits = 0;
      let sets = 0;
      let issued = 0;
      let done = 0;
      const bar = cfg.quiet
        ? undefined
        : progress(`${mode} ${threads} thread${threads > 1 ? 's' : ''}`, tasks);
      const lane = async () => {
        while (issued < tasks) {
          issued++;
          const r = (await pool.run({ seed: seed++, ops: cfg.batch })) as TaskResult;
          hist.record(Math.max(1, r.ns));
          gets += r.gets;
          hits += r.hits;
          sets += r.sets;
          if ((++done & 63) === 0) bar?.update(done);
        }
      };
      const t0 = process.hrtime.bigint();
      await Promise.all(Array.from({ length: threads * 2 }, lane));
      const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
      bar?.stop();
      await pool.destroy();
      server?.close();

      // Every key was prefilled, so a miss can only be a read that met a concurrent write of
      // the same entry and gave up rather than wait: counted and shown, not hidden.
      const ops = tasks * cfg.batch;
      const opsPerSec = ops / (wallMs / 1000);
      if (threads === 1) single = opsPerSec;
      const speedup = opsPerSec / single;
      rows.push({
        mode,
        threads,
        ops,
        wallMs,
        opsPerSec,
        speedup,
        efficiency: speedup / Math.min(threads, cores),
        batchP50Ns: hist.percentile(50),
        batchP99Ns: hist.percentile(99),
        gets,
        hits,
        sets,
      });
    }
  }
  await cache.close();
  return rows;
}

export function printConcurrency(rows: ConcurrencyRow[], cfg: RunConfig): void {
  const shared = new Map(rows.filter((r) => r.mode === 'shared').map((r) => [r.threads, r]));
  printTable(
    `one cache, N threads: ${cfg.dims}-d, read ratio ${cfg.readRatio}, ${cfg.keys} keys, batches of ${cfg.batch}\n${machineLine(machineInfo())}`,
    ['design', 'threads', 'ops/s', 'speedup', 'efficiency', 'p99 batch', 'hit %', 'shared ÷ message'],
    rows.map((r) => [
      r.mode,
      String(r.threads),
      fmtOps(r.opsPerSec),
      fmtRatio(r.speedup),
      r.efficiency.toFixed(2),
      fmtNs(r.batchP99Ns),
      r.gets === 0 ? '–' : ((100 * r.hits) / r.gets).toFixed(r.hits === r.gets ? 0 : 3),
      r.mode === 'message' && shared.has(r.threads)
        ? fmtRatio(shared.get(r.threads)!.opsPerSec / r.opsPerSec)
        : '',
    ]),
  );
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  const flags = parseFlags({
    threads: { type: 'string' },
    ops: { type: 'string' },
    dim: { type: 'string' },
    'read-ratio': { type: 'string' },
    keys: { type: 'string' },
    batch: { type: 'string' },
    counts: { type: 'string' },
    modes: { type: 'string' },
    json: { type: 'boolean' },
    quick: { type: 'boolean' },
    out: { type: 'string' },
    help: { type: 'boolean' },
  });
  if (boolFlag(flags, 'help')) {
    console.log(
      'npm run bench:concurrency -- [--threads 16] [--ops 400k] [--dim 768] [--read-ratio 0.5] [--keys 10000] [--batch 256] [--counts 2,16] [--modes shared,message] [--json] [--quick] [--out path]',
    );
    process.exit(0);
  }
  const quick = boolFlag(flags, 'quick');
  const modes = (strFlag(flags, 'modes') ?? 'shared,message').split(',') as Mode[];
  if (modes.length === 0 || modes.some((m) => m !== 'shared' && m !== 'message')) {
    console.error(`--modes must list shared and/or message, got ${strFlag(flags, 'modes')}`);
    process.exit(2);
  }
  const json = boolFlag(flags, 'json');
  const cfg: RunConfig = {
    threads: listFlag(
      flags,
      'counts',
      threadCounts(intFlag(flags, 'threads', quick ? 2 : 2 * os.availableParallelism(), 1, 256)),
    ).map((t) => Math.min(t, 256)),
    ops: intFlag(flags, 'ops', quick ? 100_000 : 400_000),
    dims: intFlag(flags, 'dim', 768, 1, 65_000),
    readRatio: numFlag(flags, 'read-ratio', 0.5, 0, 1),
    keys: intFlag(flags, 'keys', quick ? 4096 : 10_000),
    batch: intFlag(flags, 'batch', 256, 1, 1_000_000),
    modes,
    quiet: json,
  };
  const rows = await runConcurrency(cfg);
  const path = writeResults(
    'concurrency',
    outPath('concurrency', strFlag(flags, 'out'), quick),
    { ...cfg, cores: os.availableParallelism(), quick },
    rows,
    [
      'shared: Piscina workers attach to one cache and call get/set on the shared memory.',
      'message: one cache in the main thread; each batch is one BroadcastChannel message each way.',
      'Every key is prefilled: gets hit (hit % < 100 would be reads that met a concurrent write and missed), sets overwrite. Efficiency = speedup ÷ min(threads, cores).',
      'p99 batch = time of one batch inside its worker (message: includes the round trip).',
    ],
  );
  if (json) {
    // The same document as the results file (machine, config, rows, notes), on stdout alone.
    process.stdout.write(readFileSync(path, 'utf8'));
  } else {
    printConcurrency(rows, cfg);
    console.log(`\nwrote ${path}`);
  }
}
