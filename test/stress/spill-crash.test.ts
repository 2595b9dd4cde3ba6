/**
 * The spill file under process death and a full disk, with real child processes running the
 * built module (dist/; `npm test` builds first).
 *
 * Crash: a child writes N entries, awaits flush(), prints "flushed", keeps writing (new keys and
 * rewrites of flushed ones) and is killed with SIGKILL mid-write. Every flushed entry must come
 * back bit-exact, and every record in the file must decode whole, with its index entry.
 *
 * Full disk: a child runs under `ulimit -f`, so the data file cannot grow past a few MB and
 * LMDB's writes fail as on a full disk. Every call must return, the process must stay up, the
 * failures must be counted, and the records written before must still read back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { SpillTier } from '../../src/spill/tier.js';
import { key, SEED, vector } from '../support/data.mjs';
import { expectBitExact } from '../support/expect.js';
import { tempDir } from '../support/temp.js';

const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
const built = fileURLToPath(new URL('../../dist/src/spill/tier.js', import.meta.url));

/** A child that outlives this bound is killed and the test fails with its stderr. */
const CHILD_LIMIT_MS = 40_000;

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** Resolves with the exit code and signal; kills the child past CHILD_LIMIT_MS. */
function exitOf(
  child: ChildProcess,
  stderr: () => string,
): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  children.push(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`child still running after ${CHILD_LIMIT_MS} ms; stderr: ${stderr()}`));
    }, CHILD_LIMIT_MS);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
}

function requireBuild(): void {
  if (!existsSync(built))
    throw new Error(`${built} is missing: run \`npm run build\` first (npm test does).`);
}

describe('spill file durability', () => {
  it('a SIGKILL after flush() loses no flushed entry and leaves no corrupt record', async () => {
    requireBuild();
    const path = tempDir();
    const n = 2000;
    const child = spawn(process.execPath, [join(fixtures, 'spill-crash-writer.mjs'), path, String(n)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = exitOf(child, () => stderr);

    // Kill it a few hundred writes after "flushed", while batches are in flight.
    await new Promise<void>((resolve, reject) => {
      let out = '';
      let flushed = false;
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (!flushed && out.includes(`flushed ${n}`)) flushed = true;
        const wrote = [...out.matchAll(/wrote (\d+)/g)].map((m) => Number(m[1]));
        if (flushed && wrote.some((w) => w >= n + 1024)) resolve();
      });
      child.on('exit', () => reject(new Error(`writer exited early: ${stderr}`)));
    });
    child.kill('SIGKILL');
    expect((await exited).signal).toBe('SIGKILL');

    const tier = SpillTier.open({ path, keyHash: 'xxhash', seed: SEED });
    try {
      for (let i = 0; i < n; i++) expectBitExact(tier.get(key(i), 'crash', Date.now())?.vector, vector(i));
      // Entries written after the flush may or may not have landed; those that did are whole.
      const report = tier.verify();
      expect(report.corrupt).toBe(0);
      expect(report.missingAge).toBe(0);
      expect(report.records).toBeGreaterThanOrEqual(n);
      for (let i = n; i < report.records + n; i++) {
        const hit = tier.get(key(i), 'crash', Date.now());
        if (hit !== undefined) expectBitExact(hit.vector, vector(i));
      }
    } finally {
      await tier.close();
    }
  });

  it('a full disk is counted in errors, never thrown, and keeps the process and older records alive', async () => {
    requireBuild();
    const path = tempDir();
    const script = 'ulimit -f 4096 && exec "$0" "$@"'; // 4096 blocks of 512 bytes: 2 MiB
    const child = spawn(
      '/bin/sh',
      ['-c', script, process.execPath, join(fixtures, 'spill-diskfull-writer.mjs'), path],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const { code } = await exitOf(child, () => stderr);
    expect(code, stderr).toBe(0);

    const result = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as {
      before: { writes: number; errors: number };
      after: { writes: number; errors: number };
      threw: number;
      intact: number;
    };
    expect(result.before).toMatchObject({ writes: 100, errors: 0 });
    expect(result.threw).toBe(0);
    expect(result.after.errors).toBeGreaterThan(0);
    expect(result.after.writes + result.after.errors).toBeGreaterThanOrEqual(100 + 4000);
    expect(result.intact).toBe(100);
    // Logged once by the tier (lmdb-js prints its own line per failed commit besides).
    expect(stderr.split('embedcache: spill tier at').length - 1).toBe(1);

    const tier = SpillTier.open({ path, keyHash: 'xxhash', seed: SEED });
    try {
      for (let i = 0; i < 100; i++) expectBitExact(tier.get(key(i), 'full', Date.now())?.vector, vector(i));
      expect(tier.verify().corrupt).toBe(0);
    } finally {
      await tier.close();
    }
  });
});
