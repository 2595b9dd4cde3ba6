/**
 * bench:ab — two builds of embedcache in one process, timed against each other in CPU time.
 *
 *   npm run bench:ab -- --a /path/to/other/checkout --b . [--mode evict|overwrite|get] [--rounds 21]
 *
 * Why: on a shared machine the wall-clock suites cannot see a 5 % difference (alternated
 * bench:ops runs of two builds put `get miss`, a path neither build changed, 18 % apart). Here
 * both builds (each checkout's dist/, built beforehand) are loaded side by side, each opens its
 * own cache, and their rounds alternate (A B, B A, …), each timed with process.cpuUsage(): a
 * change of the machine's speed hits both sides of a round alike. The figure is the median over
 * rounds of B's CPU per operation ÷ A's. The same build against a copy of itself reads 0.98–1.03.
 *
 * Modes (768-d vectors, 4,096 ~1 KB texts):
 *   evict      set() of keys cycling over twice maxEntries: every set inserts and evicts
 *   overwrite  set() of keys already present
 *   get        getInto() hits
 */
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import type { EmbeddingCache } from '../../src/index.js';
import { intFlag, parseFlags, strFlag } from '../lib/args.js';
import { median } from '../lib/results.js';
import { textOfSize, vectorFor } from '../lib/texts.js';

const flags = parseFlags({
  a: { type: 'string' },
  b: { type: 'string' },
  mode: { type: 'string' },
  rounds: { type: 'string' },
});
const roots = [strFlag(flags, 'a'), strFlag(flags, 'b')];
const mode = strFlag(flags, 'mode') ?? 'evict';
const rounds = intFlag(flags, 'rounds', 21, 3, 1000);
if (roots.some((r) => r === undefined) || !['evict', 'overwrite', 'get'].includes(mode)) {
  console.error('npm run bench:ab -- --a CHECKOUT --b CHECKOUT [--mode evict|overwrite|get] [--rounds 21]');
  process.exit(2);
}

const DIMS = 768;
const KEYS = 4096;
const N = 50_000; // operations per round
const texts = Array.from({ length: KEYS }, (_, i) => textOfSize(i, 1024));
const vectors = texts.map((_, i) => vectorFor(i, DIMS));
const capacity = mode === 'evict' ? KEYS / 2 : KEYS;

const sides: { cache: EmbeddingCache; at: number }[] = [];
for (const root of roots) {
  const lib = pathToFileURL(resolve(root!, 'dist/src/index.js')).href;
  const { EmbeddingCache: Cache } = (await import(lib)) as { EmbeddingCache: typeof EmbeddingCache };
  const cache = await Cache.open({
    maxBytes: KEYS * DIMS * 8 + 16 * 1024 * 1024,
    maxEntries: capacity,
    expectedEntries: capacity,
  });
  if (mode !== 'evict') for (let i = 0; i < KEYS; i++) cache.set(texts[i]!, vectors[i]!);
  sides.push({ cache, at: 0 });
}

const out = new Float32Array(DIMS);
function run(k: number): void {
  const side = sides[k]!;
  const cache = side.cache;
  let i = side.at;
  for (let n = 0; n < N; n++) {
    if (mode === 'get') {
      if (!cache.getInto(texts[i]!, out)) throw new Error(`${roots[k]}: a get missed`);
    } else cache.set(texts[i]!, vectors[i]!);
    i = i + 1 === KEYS ? 0 : i + 1;
  }
  side.at = i;
}

for (let w = 0; w < 3; w++) for (const k of [0, 1]) run(k); // warm-up: both JITs, caches full
const ns: [number[], number[]] = [[], []];
for (let r = 0; r < rounds; r++) {
  for (const k of r % 2 === 0 ? [0, 1] : [1, 0]) {
    const before = process.cpuUsage();
    run(k);
    const used = process.cpuUsage(before);
    ns[k]!.push(((used.user + used.system) * 1000) / N);
  }
}
const ratios = ns[0].map((a, i) => ns[1][i]! / a);
console.log(
  `${mode}: A ${median(ns[0]).toFixed(0)} ns/op (${roots[0]}), B ${median(ns[1]).toFixed(0)} ns/op (${roots[1]}); ` +
    `B ÷ A, median of ${rounds} rounds: ${median(ratios).toFixed(3)} (${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)})`,
);
for (const s of sides) await s.cache.close();
