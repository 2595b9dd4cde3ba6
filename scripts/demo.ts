/**
 * `npm start`: a pool of embedding workers ingests a corpus through one shared cache, twice.
 *
 * The corpus is generated: chunks of 200 B – 2 KB (skewed short, as text splitters produce),
 * a share of them repeated (boilerplate, re-ingested pages). Each Piscina worker runs a
 * deterministic stand-in model (workers/demo-model.ts, ~0.3 ms of CPU per KB) wrapped in
 * getOrCompute, so:
 *   run 1 (cold)  embeds each unique chunk once, however many workers meet it;
 *   run 2 (warm)  is served from the cache: the model is not called at all.
 *
 * Flags: --texts N (default 80000) --threads N (default 2) --duplicates F (default 0.3)
 *        --memory-mb N (memory tier bound; default: room for the whole corpus — lower it to see
 *        entries spill to disk) --spill-dir PATH (default: a fresh temporary folder).
 *
 * Runs from TypeScript via tsx; the workers are the built JS in dist/workers (worker threads
 * get no TS loader), hence `npm start` = `npm run build && tsx scripts/demo.ts`.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { Piscina } from 'piscina';
import { type CacheOptions, type CacheStats, EmbeddingCache } from '../src/index.js';
import type { DemoResult, DemoTask } from '../workers/demo-embed-worker.js';
import { STAND_IN_DIMS, STAND_IN_MODEL, standInEmbed } from '../workers/demo-model.js';

/** Spill tier on/off: on sends evicted entries (and, with --memory-mb, most of them) to LMDB. */
const USE_SPILL = true;
const TASK_TEXTS = 256;

const { values: args } = parseArgs({
  options: {
    texts: { type: 'string', default: '80000' },
    threads: { type: 'string', default: '2' },
    duplicates: { type: 'string', default: '0.3' },
    'memory-mb': { type: 'string' },
    'spill-dir': { type: 'string' },
  },
});

function intArg(name: string, raw: string | undefined, min: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name} must be an integer >= ${min}, got ${raw}`);
    process.exit(2);
  }
  return n;
}

const N = intArg('texts', args.texts, 1);
const THREADS = intArg('threads', args.threads, 1);
const DUP = Number(args.duplicates);
if (!(DUP >= 0 && DUP < 1)) {
  console.error(`--duplicates must be a fraction in [0, 1), got ${args.duplicates}`);
  process.exit(2);
}

// ── corpus ───────────────────────────────────────────────────────────────────────────────────

function rng(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

const WORDS = (
  'the of and to in a is that for it as was with be by on not he this are or his from at which but have an they ' +
  'you were her she there been one all we their has would when if so no will can more out up into do any your what ' +
  'cache vector model embedding thread memory worker shared index batch query document chunk retrieval token latency'
).split(' ');

/** N texts: round(N × (1 − DUP)) unique chunks of 200 B – 2 KB, the rest repeats of them, shuffled. */
function corpus(n: number, dup: number): { texts: string[]; unique: number } {
  const random = rng(20240611);
  const unique = Math.max(1, Math.round(n * (1 - dup)));
  const base: string[] = [];
  for (let i = 0; i < unique; i++) {
    // Log-uniform length: many short chunks, some long ones (mean about 700 B).
    const target = Math.round(200 * Math.pow(10, random()));
    let s = `§${i} `;
    while (s.length < target)
      s += WORDS[Math.floor(random() * WORDS.length)] + (random() < 0.08 ? '. ' : ' ');
    base.push(s.slice(0, target));
  }
  const texts = base.slice();
  // Repeats favour a few popular chunks (boilerplate) over the long tail.
  for (let i = unique; i < n; i++) texts.push(base[Math.floor(unique * Math.pow(random(), 2))]!);
  for (let i = texts.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [texts[i], texts[j]] = [texts[j]!, texts[i]!];
  }
  return { texts, unique };
}

// ── run ──────────────────────────────────────────────────────────────────────────────────────

interface RunResult {
  seconds: number;
  embedded: number;
  calls: number;
  stats: CacheStats;
  hitRate: number;
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

async function ingest(
  pool: Piscina<DemoTask, DemoResult>,
  cache: EmbeddingCache,
  texts: string[],
  label: string,
): Promise<RunResult> {
  const before = cache.stats();
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% · {value}/{total} texts · {rate} texts/s`,
      hideCursor: true,
      clearOnComplete: true,
      barsize: 30,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(texts.length, 0, { rate: '0' });
  const t0 = performance.now();
  let done = 0;
  let embedded = 0;
  let calls = 0;
  const tasks: Promise<void>[] = [];
  for (let a = 0; a < texts.length; a += TASK_TEXTS) {
    const batch = texts.slice(a, a + TASK_TEXTS);
    tasks.push(
      pool.run({ texts: batch }).then((r) => {
        embedded += r.embedded;
        calls += r.calls;
        done += batch.length;
        bar.update(done, { rate: fmt(done / ((performance.now() - t0) / 1000)) });
      }),
    );
  }
  await Promise.all(tasks);
  const seconds = (performance.now() - t0) / 1000;
  bar.stop();
  const after = cache.stats();
  const hits = after.hits - before.hits;
  const misses = after.misses - before.misses;
  return {
    seconds,
    embedded,
    calls,
    stats: after,
    hitRate: hits + misses === 0 ? 0 : hits / (hits + misses),
  };
}

function report(label: string, n: number, r: RunResult): void {
  const saved = n - r.embedded;
  console.log(
    `${label}: ${fmt(n)} texts in ${fmt(r.seconds, 2)} s = ${fmt(n / r.seconds)} texts/s · ` +
      `model embedded ${fmt(r.embedded)} texts in ${fmt(r.calls)} calls · ` +
      `embed calls saved ${fmt(saved)} (${fmt((100 * saved) / n, 1)} %) · cache hit rate ${fmt(100 * r.hitRate, 1)} %`,
  );
  const s = r.stats;
  const spill = (s as CacheStats & { spill?: Record<string, unknown> }).spill;
  console.log(
    `  stats: entries ${fmt(s.entries)}, hits ${fmt(s.hits)}, misses ${fmt(s.misses)}, sets ${fmt(s.sets)}, ` +
      `evictions ${fmt(s.evictions)}, memory ${fmt(s.memoryBytes / 2 ** 20, 1)} MiB of ${fmt(s.maxBytes / 2 ** 20, 0)} MiB` +
      (spill !== undefined ? `, spill ${JSON.stringify(spill)}` : ''),
  );
}

async function main(): Promise<void> {
  const workerFile = fileURLToPath(new URL('../dist/workers/demo-embed-worker.js', import.meta.url));
  if (!existsSync(workerFile)) {
    console.error(`${workerFile} is missing: run \`npm run build\` first (or \`npm start\`, which builds).`);
    process.exit(1);
  }
  const { texts, unique } = corpus(N, DUP);
  const bytes = texts.reduce((s, t) => s + t.length, 0);
  // Room for every unique vector unless --memory-mb says otherwise (then the spill tier holds the rest).
  const memoryMb =
    args['memory-mb'] !== undefined
      ? intArg('memory-mb', args['memory-mb'], 2)
      : Math.max(16, Math.ceil((unique * (STAND_IN_DIMS * 4 + 64) * 1.5) / 2 ** 20) + 8);
  const spillDir = args['spill-dir'] ?? mkdtempSync(join(tmpdir(), 'embedcache-demo-'));
  const options: CacheOptions = { maxBytes: memoryMb * 2 ** 20 };
  if (USE_SPILL) options.spill = { path: spillDir };
  const cache = await EmbeddingCache.open(options);
  const pool = new Piscina<DemoTask, DemoResult>({
    filename: workerFile,
    workerData: { cache: cache.handle },
    minThreads: THREADS,
    maxThreads: THREADS,
  });

  console.log(
    `embedcache demo: ${fmt(N)} texts (${fmt(unique)} unique, ${fmt(100 * (1 - unique / N), 1)} % repeats, ` +
      `${fmt(bytes / N)} B average), ${THREADS} embedding workers, stand-in model ${STAND_IN_MODEL}`,
  );
  console.log(`  memory tier ${memoryMb} MiB, spill tier ${USE_SPILL ? spillDir : 'off'}`);
  try {
    const cold = await ingest(pool, cache, texts, 'run 1 (cold)');
    report('run 1 (cold)', N, cold);
    const warm = await ingest(pool, cache, texts, 'run 2 (warm)');
    report('run 2 (warm)', N, warm);

    // The cache holds the model's own vectors: check a sample against the model.
    let checked = 0;
    let absent = 0;
    for (let i = 0; i < texts.length; i += Math.max(1, Math.floor(texts.length / 50))) {
      const v = cache.get(texts[i]!, { model: STAND_IN_MODEL });
      if (v === undefined) {
        absent++; // evicted (a memory tier smaller than the corpus, no spill tier to fall back on)
        continue;
      }
      const want = standInEmbed(texts[i]!);
      if (v.length !== want.length || v.some((x, j) => x !== want[j])) {
        throw new Error(`sample ${i}: the cached vector differs from the model's`);
      }
      checked++;
    }
    const savedWarm = N - warm.embedded;
    console.log(
      `${savedWarm === N ? 'second run served from the cache' : 'second run'}: hit rate ${fmt(100 * warm.hitRate, 1)} %, ` +
        `embed calls saved ${fmt((100 * savedWarm) / N, 1)} %, ${fmt(cold.seconds / warm.seconds, 1)}× faster than the cold run ` +
        `(${checked} sampled vectors equal the model's${absent > 0 ? `, ${absent} no longer cached` : ''})`,
    );
    const total = 2 * N;
    const embeddedTotal = cold.embedded + warm.embedded;
    console.log(
      `over both runs the model embedded ${fmt(embeddedTotal)} of ${fmt(total)} texts: ${fmt(total - embeddedTotal)} model calls saved`,
    );
  } finally {
    await pool.destroy();
    await cache.close();
    if (args['spill-dir'] === undefined) rmSync(spillDir, { recursive: true, force: true });
  }
}

await main();
