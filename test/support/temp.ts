/** Temporary folders that remove themselves after each test. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';

const dirs: string[] = [];

// Registered when a test file first imports this module, before that file's own hooks and
// before useCaches()/openTier() register theirs: after-hooks run last-registered first, so
// caches, tiers and children are closed before their folders go.
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** A fresh folder `embedcache-test-XXXXXX` under the OS temp dir, removed after the test. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'embedcache-test-'));
  dirs.push(dir);
  return dir;
}
