/**
 * bench:concurrency — many threads, one cache.
 *
 *   npm run build && npm run bench:concurrency -- --threads 16
 *   flags: --threads N (default 2 × cores)  --ops N (per thread count, default 2M)  --rounds 5
 *          --dim 768  --read-ratio 0.5  --keys 10000  --batch 256  --modes shared,message  --json  --out path
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
 * Rounds: every thread count's pool is started and warmed first; then each of `--rounds` rounds
 * runs every thread count for ops ÷ rounds operations, in alternating order. On a shared
 * machine (this project's CI machine among them) the speed drifts by tens of percent within a
 * minute: run one thread count after another and a slow phase during one of them decides its
 * speedup. Taken round by round, both sides of a ratio ran seconds apart.
 *
 * Columns: total ops/s (keys, all threads; the median of the rounds), speedup over the same
 * design at 1 thread (the median over rounds of the round's ratio),
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
import { machineInfo, machineLine, mainThreadCpuMs } from './lib/machine.js';
import { progress } from './lib/progress.js';
import {
  fmtNs,
  fmtOps,
  fmtRatio,
  median,
  medianRatio,
  outPath,
  printTable,
  writeResults,
} from './lib/results.js';
import { packTexts } from './lib/shared-texts.js';
import { bytesFor } from './lib/sizing.js';
import { chunkTexts } from './lib/texts.js';

export type Mode = 'shared' | 'message';

export interface ConcurrencyRow {
  mode: Mode;
  threads: number;
  ops: number;
  wallMs: number;
  /**
   * The main thread's CPU time ÷ wall time (Linux only, else NaN): Piscina's dispatch and, for
   * `message`, the cache itself. It runs on the same cores as the workers.
   */
  mainCpu: number;
  /** The median over rounds of the round's ops/s. */
  opsPerSec: number;
  roundOpsPerSec: number[];
  /** The median over rounds of this round's ops/s ÷ the same round's at 1 thread (same mode). */
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
  /** Operations per thread count, split evenly over the rounds. */
  ops: number;
  /** Rounds: every thread count runs once per round, in alternating order. */
  rounds: number;
  dims: number;
  readRatio: number;
  keys: number;
  batch: number;
  modes: Mode[];
  quiet: boolean;
}

/** A warmed Piscina pool of `threads` workers running one design (and its server, for `message`). */
interface Lane {
  threads: number;
  pool: Piscina;
  server: MainThreadServer | undefined;
  hist: ReturnType<typeof createHistogram>;
  /** ops/s of each round. */
  rates: number[];
  wallMs: number;
  /** CPU time of the main thread during the timed rounds, ms (NaN where it cannot be read). */
  mainCpuMs: number;
  gets: number;
  hits: number;
  sets: number;
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
  const tasksPerRound = Math.max(1, Math.ceil(cfg.ops / cfg.batch / cfg.rounds));
  let seed = 1;

  const openLane = async (mode: Mode, threads: number): Promise<Lane> => {
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
    return {
      threads,
      pool,
      server,
      hist: createHistogram(),
      rates: [],
      wallMs: 0,
      mainCpuMs: 0,
      gets: 0,
      hits: 0,
      sets: 0,
    };
  };

  /** One round of one lane: tasksPerRound batches, 2 × threads of them in flight. */
  const timeRound = async (lane: Lane, tick: () => void): Promise<void> => {
    let issued = 0;
    const feed = async () => {
      while (issued < tasksPerRound) {
        issued++;
        const r = (await lane.pool.run({ seed: seed++, ops: cfg.batch })) as TaskResult;
        lane.hist.record(Math.max(1, r.ns));
        lane.gets += r.gets;
        lane.hits += r.hits;
        lane.sets += r.sets;
        tick();
      }
    };
    const cpu0 = mainThreadCpuMs();
    const t0 = process.hrtime.bigint();
    await Promise.all(Array.from({ length: lane.threads * 2 }, feed));
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    const cpu1 = mainThreadCpuMs();
    lane.mainCpuMs += cpu0 === undefined || cpu1 === undefined ? Number.NaN : cpu1 - cpu0;
    lane.wallMs += ms;
    lane.rates.push((tasksPerRound * cfg.batch) / (ms / 1000));
  };

  for (const mode of cfg.modes) {
    // Every thread count's pool is started and warmed first; then each round runs every count
    // once (idle pools sleep), in alternating order, so a change of the machine's speed during
    // the run reaches every thread count alike rather than deciding one of them.
    const lanes: Lane[] = [];
    for (const threads of cfg.threads) lanes.push(await openLane(mode, threads));
    const bar = cfg.quiet ? undefined : progress(`${mode}`, tasksPerRound * cfg.rounds * lanes.length);
    let done = 0;
    const tick = () => {
      if ((++done & 63) === 0) bar?.update(done);
    };
    for (let r = 0; r < cfg.rounds; r++) {
      for (const lane of r % 2 === 0 ? lanes : [...lanes].reverse()) await timeRound(lane, tick);
    }
    bar?.stop();
    for (const lane of lanes) {
      await lane.pool.destroy();
      lane.server?.close();
    }

    // Every key was prefilled, so a miss can only be a read that met a concurrent write of
    // the same entry and gave up rather than wait: counted and shown, not hidden.
    const single = lanes.find((l) => l.threads === 1);
    for (const lane of lanes) {
      // The speedup is the median over rounds of this round's rate ÷ the same round's rate at
      // one thread (medianRatio), like bench:peers' ratios.
      const speedup = single === undefined ? Number.NaN : medianRatio(lane.rates, single.rates, Number.NaN);
      rows.push({
        mode,
        threads: lane.threads,
        ops: tasksPerRound * cfg.batch * cfg.rounds,
        wallMs: lane.wallMs,
        mainCpu: lane.mainCpuMs / lane.wallMs,
        opsPerSec: median(lane.rates),
        roundOpsPerSec: lane.rates,
        speedup,
        efficiency: speedup / Math.min(lane.threads, cores),
        batchP50Ns: lane.hist.percentile(50),
        batchP99Ns: lane.hist.percentile(99),
        gets: lane.gets,
        hits: lane.hits,
        sets: lane.sets,
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
    [
      'design',
      'threads',
      'ops/s',
      'speedup',
      'efficiency',
      'main CPU',
      'p99 batch',
      'hit %',
      'shared ÷ message',
    ],
    rows.map((r) => [
      r.mode,
      String(r.threads),
      fmtOps(r.opsPerSec),
      fmtRatio(r.speedup),
      r.efficiency.toFixed(2),
      Number.isNaN(r.mainCpu) ? '–' : `${(100 * r.mainCpu).toFixed(0)} %`,
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
    rounds: { type: 'string' },
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
      'npm run bench:concurrency -- [--threads 16] [--ops 2M] [--rounds 5] [--dim 768] [--read-ratio 0.5] [--keys 10000] [--batch 256] [--counts 2,16] [--modes shared,message] [--json] [--quick] [--out path]',
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
    ops: intFlag(flags, 'ops', quick ? 100_000 : 2_000_000),
    rounds: intFlag(flags, 'rounds', quick ? 3 : 5, 1, 1000),
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
      "main CPU = the main thread's CPU time ÷ wall time during the timed rounds (Piscina's dispatch; for message, the cache too), on the same cores as the workers.",
      'ops/s is the median of the rounds; speedup the median over rounds of the round ratio to 1 thread (thread counts alternate round by round).',
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
