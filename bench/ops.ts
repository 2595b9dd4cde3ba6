/**
 * bench:ops — single-thread throughput of each public operation, per vector dimension.
 *
 *   npm run bench:ops [-- --dims 128,384,768,1536 --keys 4096 --time 2 --quick --out file.json]
 *
 * For each dimension one cache is filled with a pool of realistic chunk texts (200 B – 2 KB,
 * bench/lib/texts.ts) and benny (benchmark.js underneath) times:
 *
 *   get hit            a key in the cache; the vector is copied out (the API returns a copy)
 *   get miss           a key never inserted
 *   set (overwrite)    a key already present: hash, lock its stripe, copy the vector in
 *   set (evicting)     a second cache holding half the pool, fed the pool round-robin, so
 *                      every set inserts a key and evicts another (the steady state of a full cache)
 *   getInto hit        a hit copied into one reused Float32Array (no allocation)
 *   getMany ×256       a batch of 256 hits
 *   setMany ×256       a batch of 256 overwrites
 *
 * Why two set cases: an overwrite and an insert-with-eviction take different paths (a free
 * slot versus a victim search); a pipeline sees both. Why batches are reported per key: a
 * getMany of 256 is 256 lookups; "ops/s" of the call would look 256× slower than a get for no
 * reason, so the table shows the call rate and the per-key rate (call rate × 256) side by side.
 *
 * Texts are pre-built and reused, as in any micro-benchmark; the cache does not memoise
 * anything per string (it hashes the text on every call), so reuse does not flatter it.
 */
import { add, complete, configure, cycle, suite } from 'benny';
import { EmbeddingCache } from '../src/index.js';
import { boolFlag, intFlag, listFlag, numFlag, parseFlags, strFlag } from './lib/args.js';
import { fmtOps, outPath, printTable, writeResults } from './lib/results.js';
import { bytesFor } from './lib/sizing.js';
import { chunkTexts, meanBytes, vectorFor } from './lib/texts.js';

export interface OpsRow {
  dims: number;
  case: string;
  /** Keys per call: 1, or the batch size for getMany/setMany. */
  batch: number;
  /** Calls per second (benny's ops/s). */
  opsPerSec: number;
  /** Keys per second: opsPerSec × batch. */
  keysPerSec: number;
  /** Relative margin of error, ± % (benny's margin). */
  marginPct: number;
  samples: number;
}

const BATCH = 256;

const flags = parseFlags({
  dims: { type: 'string' },
  keys: { type: 'string' },
  time: { type: 'string' },
  quick: { type: 'boolean' },
  out: { type: 'string' },
  help: { type: 'boolean' },
});
if (boolFlag(flags, 'help')) {
  console.log(
    'npm run bench:ops -- [--dims 128,384,768,1536] [--keys 4096] [--time 2 (max s per case)] [--quick] [--out path]',
  );
  process.exit(0);
}
const quick = boolFlag(flags, 'quick');
const dimsList = listFlag(flags, 'dims', quick ? [768] : [128, 384, 768, 1536]);
const keys = intFlag(flags, 'keys', quick ? 2048 : 4096, BATCH * 2);
const maxTime = numFlag(flags, 'time', quick ? 0.5 : 2, 0.05, 60);
const out = strFlag(flags, 'out');

/** Results of every case, per dimension. */
const rows: OpsRow[] = [];
let sink = 0;

async function benchDims(dims: number): Promise<void> {
  const texts = chunkTexts(0, keys);
  const missTexts = chunkTexts(10_000_000, keys);
  const vectors = texts.map((_, i) => vectorFor(i, dims));
  const batches: string[][] = [];
  const batchVectors: Float32Array[][] = [];
  for (let s = 0; s + BATCH <= keys; s += BATCH) {
    batches.push(texts.slice(s, s + BATCH));
    batchVectors.push(vectors.slice(s, s + BATCH));
  }

  const cache = await EmbeddingCache.open({ maxBytes: bytesFor(keys, dims), expectedEntries: keys });
  const half = keys >> 1;
  const evicting = await EmbeddingCache.open({
    maxBytes: bytesFor(keys, dims),
    maxEntries: half,
    expectedEntries: half,
  });
  for (let i = 0; i < keys; i++) cache.set(texts[i]!, vectors[i]!);
  let unexpected = 0;

  let gi = 0;
  let mi = 0;
  let si = 0;
  let ei = 0;
  let gi2 = 0;
  const into = new Float32Array(dims);
  let bi = 0;
  let sbi = 0;
  const next = (i: number, n: number) => (i + 1 === n ? 0 : i + 1);

  const summary = await suite(
    `embedcache ops, ${dims}-d (${keys} keys, mean text ${Math.round(meanBytes(texts))} B)`,
    configure({ cases: { maxTime, minSamples: 5 } }),
    add('get hit', () => {
      const v = cache.get(texts[gi]!);
      if (v === undefined) unexpected++;
      else sink ^= v.length;
      gi = next(gi, keys);
    }),
    add('getInto hit', () => {
      if (!cache.getInto(texts[gi2]!, into)) unexpected++;
      else sink ^= into.length;
      gi2 = next(gi2, keys);
    }),
    add('get miss', () => {
      if (cache.get(missTexts[mi]!) !== undefined) unexpected++;
      mi = next(mi, keys);
    }),
    add('set (overwrite)', () => {
      cache.set(texts[si]!, vectors[si]!);
      si = next(si, keys);
    }),
    add('set (evicting)', () => {
      evicting.set(texts[ei]!, vectors[ei]!);
      ei = next(ei, keys);
    }),
    add(`getMany ×${BATCH}`, () => {
      const vs = cache.getMany(batches[bi]!);
      sink ^= vs.length;
      bi = next(bi, batches.length);
    }),
    add(`setMany ×${BATCH}`, () => {
      cache.setMany(batches[sbi]!, batchVectors[sbi]!);
      sbi = next(sbi, batches.length);
    }),
    cycle(),
    complete(),
  );

  if (unexpected > 0)
    throw new Error(
      `${dims}-d: ${unexpected} gets gave the wrong outcome (hit expected to hit, miss to miss)`,
    );
  const st = cache.stats();
  if (st.entries !== keys) throw new Error(`${dims}-d: cache holds ${st.entries} entries, expected ${keys}`);

  for (const r of summary.results) {
    const batch = r.name.includes('Many') ? BATCH : 1;
    rows.push({
      dims,
      case: r.name,
      batch,
      opsPerSec: r.ops,
      keysPerSec: r.ops * batch,
      marginPct: r.margin,
      samples: r.samples,
    });
  }
  await cache.close();
  await evicting.close();
}

for (const d of dimsList) await benchDims(d);

printTable(
  `embedcache ops/s, 1 thread (${keys} keys of 200 B – 2 KB text)`,
  ['dims', 'case', 'calls/s', 'keys/s', '± %'],
  rows.map((r) => [
    String(r.dims),
    r.case,
    fmtOps(r.opsPerSec),
    fmtOps(r.keysPerSec),
    r.marginPct.toFixed(2),
  ]),
);
const path = writeResults(
  'ops',
  outPath('ops', out, quick),
  { dims: dimsList, keys, batch: BATCH, maxTimeS: maxTime, quick, textBytes: '200-2048' },
  rows,
  [
    'benny (benchmark.js) ops/s in one thread; margin is the relative margin of error at 95 %.',
    `getMany/setMany move ${BATCH} keys per call: keys/s = calls/s × ${BATCH}.`,
    'set (evicting): a cache bounded to half the key pool, fed the pool round-robin, so each set inserts and evicts.',
  ],
);
console.log(`\nwrote ${path} (checksum ${sink})`);
