/**
 * Worker threads load the built library (dist/), not the TypeScript sources the main thread
 * runs under tsx. Both must be the same code — a worker attaching to a cache whose layout its
 * stale build does not know would measure (or corrupt) the wrong thing — so the suites that
 * start workers check that dist/ exists and is not older than src/.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BUILT_ENTRY = fileURLToPath(new URL('../../dist/src/index.js', import.meta.url));
const SRC_DIR = fileURLToPath(new URL('../../src', import.meta.url));

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** Whether dist/ is built; a reason string when it is missing or older than src/. */
export function buildProblem(): string | undefined {
  if (!existsSync(BUILT_ENTRY))
    return `${BUILT_ENTRY} is missing: run \`npm run build\` first (workers load the built library).`;
  if (newestMtime(SRC_DIR) > statSync(BUILT_ENTRY).mtimeMs) {
    return 'dist/ is older than src/: run `npm run build` so the workers run the same code as the main thread.';
  }
  return undefined;
}

/** Exits with the reason when workers could not load the current library. */
export function requireBuild(): void {
  const problem = buildProblem();
  if (problem !== undefined) {
    console.error(problem);
    process.exit(2);
  }
}
