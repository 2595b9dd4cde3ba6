/**
 * stats().memoryBytes against measured memory: 10k and 100k entries of 768-d must move
 * process RSS by what memoryBytes says, within ±5 %. The cache's memory is growable
 * SharedArrayBuffers: it shows in rss, not in memoryUsage().arrayBuffers.
 *
 * Measured in a child process (fixtures/memory-child.mjs, node --expose-gc, importing dist/) so
 * the test runner's own allocations do not blur the figure.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const child = fileURLToPath(new URL('./fixtures/memory-child.mjs', import.meta.url));

interface Measure {
  n: number;
  rssGrowth: number;
  memoryBytesGrowth: number;
  rssTotal: number;
  memoryBytes: number;
  arrayBuffersGrowth: number;
  bytesPerEntry: number;
  gc: boolean;
}

describe('memory estimate', () => {
  it.each([10_000, 100_000])(
    'memoryBytes matches RSS growth within 5 percent for %i entries of 768-d',
    async (n) => {
      const { stdout } = await run(process.execPath, ['--expose-gc', child, String(n)], {
        maxBuffer: 1 << 20,
      });
      const m = JSON.parse(stdout.trim().split('\n').pop()!) as Measure;
      const error = m.memoryBytesGrowth / m.rssGrowth - 1;
      console.log(
        `${n} entries: memoryBytes +${m.memoryBytesGrowth} B, rss +${m.rssGrowth} B, error ${(error * 100).toFixed(2)} %; ` +
          `total memoryBytes ${m.memoryBytes} B vs rss since before open ${m.rssTotal} B; ${m.bytesPerEntry.toFixed(1)} B/entry`,
      );
      expect(m.gc).toBe(true);
      // The vectors alone are n × 3072 B: the figure must account for at least those.
      expect(m.memoryBytesGrowth).toBeGreaterThanOrEqual(n * 768 * 4);
      expect(Math.abs(error)).toBeLessThanOrEqual(0.05);
      // Shared memory is not counted as (non-shared) ArrayBuffer memory.
      expect(m.arrayBuffersGrowth).toBeLessThan(m.memoryBytesGrowth * 0.05);
    },
    120_000,
  );
});
