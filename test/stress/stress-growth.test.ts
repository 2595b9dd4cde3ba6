/**
 * Concurrent page commits. Memory is committed a page at a time as the cache fills; when
 * several threads fill a small cache at once, one thread may be committing the last page while
 * another finds no page left and sweeps the existing ones. Over many fresh caches, four workers
 * (one model and vector dimension each) start together and fill a 2 MiB cache: no set may
 * throw, and every hit must be the worker's own whole vector.
 */
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddingCache } from '../../src/index.js';

const DIMS = [3000, 5000, 7000, 9000];
const KEYS = 300;
const ROUNDS = 150;

interface Report {
  error: string | null;
  bad: number;
  hits: number;
}

describe('stress: concurrent page commits', () => {
  const workers: Worker[] = [];
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.terminate()));
  });

  it('threads filling a fresh cache together never throw and never read a wrong vector', async () => {
    for (const [id, dims] of DIMS.entries()) {
      workers.push(
        new Worker(new URL('./fixtures/growth-worker.mjs', import.meta.url), {
          workerData: { id, dims, keys: KEYS },
        }),
      );
    }
    const errors: string[] = [];
    const invariantProblems: string[] = [];
    let bad = 0;
    let hits = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const cache = await EmbeddingCache.open({ maxBytes: 2 * 1024 * 1024 });
      const start = new SharedArrayBuffer(8);
      const line = new Int32Array(start);
      const reports = workers.map(
        (w) =>
          new Promise<Report>((resolve, reject) => {
            w.once('message', resolve);
            w.once('error', reject);
          }),
      );
      for (const w of workers) w.postMessage({ handle: cache.handle, start });
      while (Atomics.load(line, 1) < workers.length) await new Promise((r) => setTimeout(r, 1));
      Atomics.store(line, 0, 1);
      for (const r of await Promise.all(reports)) {
        if (r.error !== null) errors.push(`round ${round}: ${r.error.split('\n').slice(0, 3).join(' | ')}`);
        bad += r.bad;
        hits += r.hits;
      }
      const s = cache.stats();
      expect(s.memoryBytes).toBeLessThanOrEqual(s.maxBytes);
      const problems = (cache as unknown as { checkInvariants?: () => string[] }).checkInvariants?.() ?? [];
      for (const p of problems) invariantProblems.push(`round ${round}: ${p}`);
      await cache.close();
    }
    console.log(
      `stress-growth: ${ROUNDS} rounds, ${hits} hits checked, ${errors.length} errors, ${invariantProblems.length} invariant problems`,
    );
    expect(errors.slice(0, 3), `${errors.length} sets threw`).toEqual([]);
    expect(bad).toBe(0);
    expect(invariantProblems.slice(0, 5), 'internal invariants after each round').toEqual([]);
    expect(hits).toBeGreaterThan(0);
  }, 120_000);
});
