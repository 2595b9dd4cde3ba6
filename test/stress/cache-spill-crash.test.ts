/**
 * Crash safety of a persistent cache, end to end through the public API: a child process opens
 * EmbeddingCache with spill { persist: true }, sets N entries, awaits flush(), prints
 * "flushed", keeps setting (new keys, and flushed keys again with the same bytes) and is
 * killed with SIGKILL mid-write. A new cache on the same path must serve every flushed entry
 * bit-exact; entries set after the flush may or may not have landed (they are only counted),
 * but any that did must be whole, and the file must hold no corrupt record.
 * The child runs the built module (dist/; `npm test` builds first).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddingCache } from '../../src/index.js';
import { SpillTier } from '../../src/spill/tier.js';
import { vector } from '../support/data.mjs';
import { expectBitExact } from '../support/expect.js';
import { tempDir } from '../support/temp.js';

const child = fileURLToPath(new URL('./fixtures/cache-spill-crash-writer.mjs', import.meta.url));
const built = fileURLToPath(new URL('../../dist/src/index.js', import.meta.url));
const crashText = (i: number): string => `crash entry #${i}`;

const N = 2000;
/** Kill the child once it reports this many writes past the flush. */
const PAST_FLUSH = 1024;
const CHILD_LIMIT_MS = 40_000;

const children: ChildProcess[] = [];
const caches: EmbeddingCache[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const c of caches.splice(0)) await c.close();
});

describe('persistent cache under SIGKILL', () => {
  it('every entry flushed before the kill comes back bit-exact in a new cache', async () => {
    if (!existsSync(built))
      throw new Error(`${built} is missing: run \`npm run build\` first (npm test does).`);
    const path = tempDir();

    const writer = spawn(process.execPath, [child, path, String(N)], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(writer);
    let stderr = '';
    writer.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      writer.on('exit', (_code, signal) => resolve(signal)),
    );

    let lastWrote = 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`writer never got ${PAST_FLUSH} writes past the flush; stderr: ${stderr}`)),
        CHILD_LIMIT_MS,
      );
      let out = '';
      let flushed = false;
      writer.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (!flushed && out.includes(`flushed ${N}\n`)) flushed = true;
        for (const m of out.matchAll(/wrote (\d+)\n/g)) lastWrote = Math.max(lastWrote, Number(m[1]));
        if (flushed && lastWrote >= N + PAST_FLUSH) {
          clearTimeout(timer);
          resolve();
        }
      });
      writer.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`writer exited early (${code}): ${stderr}`));
      });
    });
    writer.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');

    const cache = await EmbeddingCache.open({ spill: { path, persist: true } });
    caches.push(cache);
    for (let i = 0; i < N; i++) expectBitExact(cache.get(crashText(i)), vector(i));

    // Past the flush: count what landed, and check each one whole. Writes kept going for a
    // moment after the last "wrote" line, hence the margin.
    let survived = 0;
    const tried = lastWrote + 512 - N;
    for (let i = N; i < lastWrote + 512; i++) {
      const v = cache.get(crashText(i));
      if (v !== undefined) {
        expectBitExact(v, vector(i));
        survived++;
      }
    }
    console.log(
      `cache-spill-crash: ${N} flushed entries intact; ${survived} of ~${tried} entries set after the flush survived the SIGKILL`,
    );
    expect(cache.stats().spill!.errors).toBe(0);
    await cache.close();

    // The file itself: every record decodes and matches its key, every index entry is there.
    const tier = SpillTier.open({ path, keyHash: 'xxhash', seed: new Uint8Array(32) });
    try {
      const report = tier.verify();
      expect(report.corrupt).toBe(0);
      expect(report.missingAge).toBe(0);
      expect(report.records).toBeGreaterThanOrEqual(N + survived);
    } finally {
      await tier.close();
    }
  });
});
