/**
 * Spill tier micro-measurements (not part of npm test): run with `npx tsx bench/spill-micro.ts`.
 *
 * Prints, for 768-d vectors on this machine:
 *   - write throughput: enqueue + flush of 50k records (entries/s, durable at the end);
 *   - read ops/s, single thread, warm (every page already in the OS cache), random keys over
 *     a 200 MB file: get() with a fresh array per hit, peek() (a reused buffer) plus one copy
 *     into a slot, and a miss (a key not on disk: looked up twice, the second time in a fresh
 *     snapshot);
 *   - reopen time and first-get latency of a file holding 100k records (same process, so the
 *     OS page cache is warm; a cold disk adds its seek time to the first get only);
 *   - file bytes per entry (data.mdb size and the live-bytes counter).
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { SpillTier } from '../src/spill/tier.js';
import { machineInfo, machineLine } from './lib/machine.js';
import { fmtInt } from './lib/results.js';
import { VectorSource } from './lib/texts.js';

const DIMS = 768;
const WRITE_N = 50_000;
const REOPEN_N = 100_000;
const GET_MS = 1500;
const SEED = new Uint8Array(32).fill(7);

function key(i: number): Uint8Array {
  const k = new Uint8Array(16);
  const v = new DataView(k.buffer);
  v.setUint32(0, i);
  v.setUint32(4, Math.imul(i, 0x9e3779b1));
  v.setUint32(8, Math.imul(i, 0x85ebca6b));
  v.setUint32(12, Math.imul(i, 0xc2b2ae35));
  return k;
}

const vectors = new VectorSource(DIMS);

async function fill(spill: SpillTier, from: number, to: number): Promise<number> {
  const t0 = performance.now();
  const now = Date.now();
  for (let i = from; i < to; i++) {
    spill.enqueue({ key: key(i), model: 'bench', vector: vectors.at(i), createdMs: now, expiresMs: 0 });
  }
  await spill.flush();
  return performance.now() - t0;
}

const dir = mkdtempSync(join(tmpdir(), 'embedcache-spill-bench-'));
try {
  console.log(
    `spill micro-bench: ${machineLine(machineInfo())}, load ${loadavg()[0]!.toFixed(2)}, ${DIMS}-d`,
  );
  let spill = SpillTier.open({ path: dir, keyHash: 'xxhash', seed: SEED, maxBytes: 64 * 1024 ** 3 });

  // Write throughput.
  const writeMs = await fill(spill, 0, WRITE_N);
  console.log(
    `write   enqueue+flush ${fmtInt(WRITE_N)} records: ${writeMs.toFixed(0)} ms → ${fmtInt(WRITE_N / (writeMs / 1000))} entries/s`,
  );

  // Warm single-thread reads over random keys: get() (a fresh array per hit) and peek() + one
  // copy into a preallocated slot (what a promotion into the memory tier does).
  for (let i = 0; i < WRITE_N; i++) spill.get(key(i), 'bench', Date.now());
  const keys = Array.from({ length: 4096 }, () => key(Math.floor(Math.random() * WRITE_N)));
  const slot = new Float32Array(DIMS);
  const now = Date.now();
  const readers: [string, (k: Uint8Array) => number][] = [
    ['get ', (k) => spill.get(k, 'bench', now)?.vector[0] ?? 0],
    [
      'peek',
      (k) => {
        const hit = spill.peek(k, 'bench', now);
        if (hit === undefined) return 0;
        slot.set(hit.vector);
        return slot[0]!;
      },
    ],
    ['miss', (k) => (spill.get(k, 'bench', now) === undefined ? 0 : 1)],
  ];
  const missKeys = Array.from({ length: 4096 }, (_, i) => key(WRITE_N + 1_000_000 + i));
  for (const [name, read] of readers) {
    const input = name === 'miss' ? missKeys : keys;
    let ops = 0;
    let sink = 0;
    const g0 = performance.now();
    let elapsed = 0;
    while (elapsed < GET_MS) {
      for (let i = 0; i < 4096; i++) sink += read(input[i]!);
      ops += 4096;
      elapsed = performance.now() - g0;
    }
    const label =
      name === 'get '
        ? 'fresh Float32Array per hit'
        : name === 'peek'
          ? 'reused buffer + copy into a slot (promote)'
          : 'key not on disk (two lookups)';
    console.log(
      `${name}    warm, 1 thread, ${label}: ${fmtInt(ops / (elapsed / 1000))} ops/s (${((elapsed * 1000) / ops).toFixed(2)} µs/op)${Number.isNaN(sink) ? '!' : ''}`,
    );
  }

  // Grow to 100k, close, reopen, first get.
  await fill(spill, WRITE_N, REOPEN_N);
  const { entries, bytes } = spill.stats();
  await spill.close();
  const o0 = performance.now();
  spill = SpillTier.open({ path: dir, keyHash: 'xxhash', seed: SEED, maxBytes: 64 * 1024 ** 3 });
  const o1 = performance.now();
  const first = spill.get(key(REOPEN_N - 17), 'bench', Date.now());
  const o2 = performance.now();
  console.log(
    `reopen  ${fmtInt(entries)} records: open ${(o1 - o0).toFixed(2)} ms, first get ${((o2 - o1) * 1000).toFixed(0)} µs (${first === undefined ? 'MISS' : 'hit'})`,
  );

  const fileBytes = statSync(join(dir, 'data.mdb')).size;
  console.log(
    `size    data.mdb ${fmtInt(fileBytes)} B = ${fmtInt(fileBytes / entries)} B/entry; live pages ${fmtInt(bytes / entries)} B/entry (vector alone: ${DIMS * 4} B)`,
  );
  await spill.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
