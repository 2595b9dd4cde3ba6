/**
 * `npm start` smoke test: the demo runs end to end with a small corpus in a child process (its
 * workers are the built JS in dist/, which `npm test` builds first). Its own report must say
 * that the cold run embedded each unique text once and the warm run came from the cache.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('demo (npm start)', () => {
  it('ingests twice; the second run is served from the cache', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', 'scripts/demo.ts', '--texts', '600', '--threads', '2', '--duplicates', '0.3'],
      { cwd: root, timeout: 60_000 },
    );
    // 600 texts, 420 unique: the cold run embeds each unique one exactly once.
    expect(stdout).toMatch(/420 unique/);
    expect(stdout).toMatch(
      /run 1 \(cold\): 600 texts .* model embedded 420 texts .* embed calls saved 180 \(30\.0 %\)/,
    );
    expect(stdout).toMatch(
      /run 2 \(warm\): 600 texts .* model embedded 0 texts in 0 calls .* embed calls saved 600 \(100\.0 %\) · cache hit rate 100\.0 %/,
    );
    expect(stdout).toMatch(/second run served from the cache: hit rate 100\.0 %, embed calls saved 100\.0 %/);
    expect(stdout).toMatch(/model embedded 420 of 1,200 texts: 780 model calls saved/);
  }, 90_000);
});
