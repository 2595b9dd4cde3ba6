/**
 * Several threads, one spill file: each worker opens its own SpillTier on the same path (as the
 * cache's attached threads do), writes while the others read, and every hit is checked whole.
 * Midway the main thread invalidates the model on disk and then bumps a shared memory
 * generation; after that no worker may read an old record. Workers load the built module
 * (dist/; `npm test` builds first).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { SpillTier } from '../../src/spill/tier.js';
import { SEED } from '../support/data.mjs';
import { tempDir } from '../support/temp.js';

const worker = fileURLToPath(new URL('./fixtures/spill-thread-worker.mjs', import.meta.url));
const twoInstances = fileURLToPath(new URL('./fixtures/spill-two-instances.mjs', import.meta.url));
const built = fileURLToPath(new URL('../../dist/src/spill/tier.js', import.meta.url));
const running: Worker[] = [];
afterEach(async () => {
  // Also after a timeout, when the test body never reached its finally.
  await Promise.all(running.splice(0).map((t) => t.terminate()));
});

interface Done {
  type: 'done';
  counts: { hits: number; misses: number; bad: number; staleAfterInvalidate: number };
  stats: { errors: number };
}

describe('spill tier shared by threads', () => {
  it('threads see each other whole, and an invalidation reaches them through the memory generation', async () => {
    if (!existsSync(built))
      throw new Error(`${built} is missing: run \`npm run build\` first (npm test does).`);
    const path = tempDir();
    const main = SpillTier.open({ path, keyHash: 'xxhash', seed: SEED });
    const memGen = new SharedArrayBuffer(4);
    const workers = 3;
    const perWorker = 600;
    const threads = Array.from(
      { length: workers },
      (_, index) =>
        new Worker(worker, { workerData: { path, index, workers, perWorker, dims: 384, memGen } }),
    );
    running.push(...threads);
    const next = (t: Worker, type: string): Promise<unknown> =>
      new Promise((resolve, reject) => {
        const onMessage = (m: { type: string }): void => {
          if (m.type === type) {
            t.off('message', onMessage);
            resolve(m);
          }
        };
        t.on('message', onMessage);
        t.once('error', reject);
        t.once('exit', (code) => reject(new Error(`worker exited (${code}) before '${type}'`)));
      });

    try {
      await Promise.all(threads.map((t) => next(t, 'phase1')));
      expect(main.invalidateModel('a')).toBe(true); // disk first,
      Atomics.add(new Int32Array(memGen), 0, 1); // then the generation the threads look at
      const phase2 = Promise.all(threads.map((t) => next(t, 'phase2')));
      for (const t of threads) t.postMessage('go');
      await phase2;
      const done = Promise.all(threads.map((t) => next(t, 'done') as Promise<Done>));
      for (const t of threads) t.postMessage('go');
      const results = await done;

      for (const { counts, stats } of results) {
        expect(counts.bad).toBe(0);
        expect(counts.staleAfterInvalidate).toBe(0);
        expect(stats.errors).toBe(0);
      }
      const hits = results.reduce((sum, r) => sum + r.counts.hits, 0);
      // The final pass alone reads every key in every thread.
      expect(hits).toBeGreaterThanOrEqual(workers * workers * perWorker);
      await main.flush();
      expect(main.verify()).toMatchObject({
        records: workers * perWorker,
        corrupt: 0,
        unreachable: 0,
        missingAge: 0,
      });
    } finally {
      await Promise.all(threads.map((t) => t.terminate()));
      await main.close();
    }
  });

  it('two instances in one thread never deadlock: maintenance holds no write lock while waiting for the thread', async () => {
    if (!existsSync(built))
      throw new Error(`${built} is missing: run \`npm run build\` first (npm test does).`);
    const path = tempDir();
    // Run in a child: a deadlock blocks the whole thread, so only another process can time it out.
    const child = spawn(process.execPath, [twoInstances, path], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    expect(code, `child did not finish (deadlock?): ${stderr}`).toBe(0);
    expect(stdout).toMatch(/^ok \d+/);
  });
});
