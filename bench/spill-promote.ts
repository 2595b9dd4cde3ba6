/**
 * Promotion from the spill tier through the cache's public API (not part of npm test): run with
 * `npm run bench:spill-promote -- [--entries 20000] [--max 1024] [--ms 1000] [--rounds 5]
 * [--lib dist/src/index.js]`.
 *
 * Writes `entries` 768-d vectors to a spill file (persist: true), closes, then opens a cache of
 * `max` entries over the file and reads the keys round-robin: every read misses memory, hits
 * disk, promotes the entry (evicting another, which is already on disk), so the figure is the
 * whole promotion path — key hash, memory probe, LMDB read, the set-if-absent store, eviction.
 * get() (a fresh array per call) and getInto() (a reused array) are timed in alternation for
 * `rounds` rounds of `ms` each, with persist: true and persist: false (there an evicted entry is
 * written back to disk unless it came from disk unchanged: its cost would show here); the
 * median of the rounds is printed.
 *
 * `--lib` loads the library from another build (a path to its dist/src/index.js), so that two
 * builds can be compared A/B on one machine by alternating runs. The default is this tree's
 * dist/: run `npm run build` first.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { EmbeddingCache as Cache } from '../src/index.js';
import { BUILT_ENTRY } from './lib/build.js';
import { machineInfo, machineLine } from './lib/machine.js';
import { fmtInt, median } from './lib/results.js';
import { VectorSource } from './lib/texts.js';

const DIMS = 768;

const { values } = parseArgs({
  options: {
    entries: { type: 'string', default: '20000' },
    max: { type: 'string', default: '1024' },
    ms: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '5' },
    lib: { type: 'string' },
  },
});
const entries = Number(values.entries);
const maxEntries = Number(values.max);
const roundMs = Number(values.ms);
const rounds = Number(values.rounds);
if (!(entries > 0 && maxEntries > 0 && roundMs > 0 && rounds > 0 && maxEntries * 4 <= entries)) {
  throw new RangeError('--entries, --max, --ms and --rounds must be positive, with 4 × --max <= --entries.');
}
const lib = values.lib === undefined ? BUILT_ENTRY : resolve(values.lib);
const { EmbeddingCache } = (await import(pathToFileURL(lib).href)) as { EmbeddingCache: typeof Cache };

/** Short texts: the figure is the promotion, not the hashing of long chunks. */
const texts = Array.from(
  { length: entries },
  (_, i) => `spill-promote bench entry #${i}: some chunk of a document`,
);
const vectors = new VectorSource(DIMS);

console.log(
  `spill-promote: ${machineLine(machineInfo())}, ${DIMS}-d, ${fmtInt(entries)} entries on disk, maxEntries ${fmtInt(maxEntries)}, ${lib}`,
);

const path = mkdtempSync(join(tmpdir(), 'embedcache-spill-promote-'));
let wrong = 0;
try {
  const writer = await EmbeddingCache.open({ maxEntries: 4096, spill: { path, persist: true } });
  for (let i = 0; i < entries; i++) writer.set(texts[i]!, vectors.at(i));
  await writer.close();

  for (const persist of [true, false]) {
    const cache = await EmbeddingCache.open({ maxEntries, spill: { path, persist } });
    const out = new Float32Array(DIMS);
    let next = 0;
    const modes: [string, () => void][] = [
      [
        'get    ',
        () => {
          const i = next;
          next = next + 1 === entries ? 0 : next + 1;
          if (cache.get(texts[i]!)?.[0] !== i) wrong++;
        },
      ],
      [
        'getInto',
        () => {
          const i = next;
          next = next + 1 === entries ? 0 : next + 1;
          if (!cache.getInto(texts[i]!, out) || out[0] !== i) wrong++;
        },
      ],
    ];
    const rates = new Map<string, number[]>(modes.map(([name]) => [name, []]));
    const before = cache.stats();
    let ops = 0;
    // Round 0 warms the JIT and is not reported.
    for (let r = 0; r <= rounds; r++) {
      for (const [name, read] of modes) {
        let n = 0;
        const t0 = performance.now();
        let elapsed = 0;
        while (elapsed < roundMs) {
          for (let j = 0; j < 256; j++) read();
          n += 256;
          elapsed = performance.now() - t0;
        }
        ops += n;
        if (r > 0) rates.get(name)!.push(n / (elapsed / 1000));
      }
    }
    await cache.flush();
    const after = cache.stats();
    await cache.close();
    const diskHits = after.spill!.hits - before.spill!.hits;
    const respilled = after.spill!.writes - before.spill!.writes;
    for (const [name, r] of rates) {
      const m = median(r);
      console.log(
        `promote persist: ${String(persist).padEnd(5)} ${name} median ${fmtInt(m)} gets/s (${(1e6 / m).toFixed(2)} µs/get); rounds: ${r.map((x) => fmtInt(x)).join(', ')}`,
      );
    }
    console.log(
      `        persist: ${String(persist).padEnd(5)} ${fmtInt(ops)} reads, ${fmtInt(diskHits)} from disk, ${fmtInt(respilled)} written back on eviction`,
    );
  }
} finally {
  rmSync(path, { recursive: true, force: true });
}
if (wrong !== 0) {
  console.log(`ERROR: ${wrong} reads returned a wrong or missing vector`);
  process.exitCode = 1;
}
