/**
 * The package as a consumer gets it: `npm pack` (its prepare script builds dist/), `npm install
 * <tarball>` into a fresh ESM project, then plain Node — no TypeScript, no test runner — imports
 * 'embedcache', uses a cache, and attaches to it from a worker thread.
 *
 * The pack runs in a temporary copy of the package sources (node_modules linked), not in the
 * repository: prepare rebuilds dist/ there, so this proves a build from sources, and it cannot
 * rewrite the repository's dist/ while the stress tests' workers import it.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../support/temp.js';

const exec = promisify(execFile);
const repo = fileURLToPath(new URL('../..', import.meta.url));
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

const CONSUMER = `
import { Worker } from 'node:worker_threads';
import { EmbeddingCache, EmbeddingCacheError } from 'embedcache';

const cache = await EmbeddingCache.open({ maxEntries: 1000 });
cache.set('hello world', [0.25, 0.5, 0.75], { model: 'demo' });
const hit = cache.get('hello world', { model: 'demo' });
const miss = cache.get('never set', { model: 'demo' });
let code = null;
try { cache.set(42, [1]); } catch (e) { code = e instanceof EmbeddingCacheError ? e.code : String(e); }

const worker = new Worker(\`
  import { workerData, parentPort } from 'node:worker_threads';
  import { EmbeddingCache } from 'embedcache';
  const c = await EmbeddingCache.attach(workerData);
  const seen = Array.from(c.get('hello world', { model: 'demo' }) ?? []);
  c.set('from worker', [1, 2, 3], { model: 'demo' });
  parentPort.postMessage(seen);
\`, { eval: true, type: 'module', workerData: cache.handle });
const workerSaw = await new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
await worker.terminate();
const fromWorker = Array.from(cache.get('from worker', { model: 'demo' }) ?? []);

const s = cache.stats();
console.log(JSON.stringify({
  isFloat32: hit instanceof Float32Array, hit: Array.from(hit ?? []), miss: miss === undefined, code,
  workerSaw, fromWorker, entries: s.entries, hits: s.hits, misses: s.misses,
}));
await cache.close();
`;

describe('consumer install', () => {
  it('npm pack + npm install into a fresh project, then plain Node imports and uses it', async () => {
    const dir = tempDir();
    const env = { ...process.env, npm_config_update_notifier: 'false' };
    const pkg = join(dir, 'pkg');
    await mkdir(pkg);
    for (const f of [
      'package.json',
      'package-lock.json',
      'tsconfig.json',
      'tsconfig.build.json',
      'README.md',
      'scripts', // build-wasm.mjs: npm pack runs prepare, which builds
      'src',
      'workers',
    ]) {
      if (existsSync(join(repo, f))) await cp(join(repo, f), join(pkg, f), { recursive: true });
    }
    await symlink(join(repo, 'node_modules'), join(pkg, 'node_modules'), 'dir');
    await exec(npm, ['pack', '--pack-destination', dir], { cwd: pkg, env, maxBuffer: 16 << 20 });
    const tarball = (await readdir(dir)).find((f) => f.endsWith('.tgz'));
    expect(tarball, 'npm pack produced no tarball').toBeDefined();

    const app = join(dir, 'app');
    await mkdir(app);
    await writeFile(
      join(app, 'package.json'),
      JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }),
    );
    await exec(npm, ['install', join(dir, tarball!), '--prefer-offline', '--no-audit', '--no-fund'], {
      cwd: app,
      env,
      maxBuffer: 16 << 20,
    });
    // Types ship with the package, where the exports map says.
    expect(existsSync(join(app, 'node_modules/embedcache/dist/src/index.d.ts'))).toBe(true);
    // So does the key hash module, built by prepare (keys fail without it: there is no fallback).
    expect(existsSync(join(app, 'node_modules/embedcache/dist/src/key/xxh3.wasm'))).toBe(true);
    expect(existsSync(join(app, 'node_modules/embedcache/dist/src/memory/prefault-worker.js'))).toBe(true);
    // Tests and sources do not.
    expect(existsSync(join(app, 'node_modules/embedcache/test'))).toBe(false);

    // The subpath exports resolve to built files; embedcache/ai loads without its optional peer.
    for (const sub of ['langchain', 'ai', 'llamaindex', 'metrics']) {
      const { stdout: resolved } = await exec(
        process.execPath,
        ['--input-type=module', '-e', `console.log(import.meta.resolve('embedcache/${sub}'))`],
        { cwd: app, env },
      );
      expect(existsSync(fileURLToPath(resolved.trim())), `embedcache/${sub}`).toBe(true);
    }
    await exec(process.execPath, ['--input-type=module', '-e', "await import('embedcache/ai')"], {
      cwd: app,
      env,
    });
    // The bin is installed and runs.
    const { stdout: help } = await exec(join(app, 'node_modules/.bin/embedcache'), ['--help'], {
      cwd: app,
      env,
    });
    expect(help).toMatch(/stats/);
    expect(help).toMatch(/export/);

    await writeFile(join(app, 'main.mjs'), CONSUMER);
    const { stdout } = await exec(process.execPath, ['main.mjs'], { cwd: app, env });
    const out = JSON.parse(stdout.trim().split('\n').pop()!);
    expect(out).toEqual({
      isFloat32: true,
      hit: [0.25, 0.5, 0.75],
      miss: true,
      code: 'ERR_INVALID_TEXT',
      workerSaw: [0.25, 0.5, 0.75],
      fromWorker: [1, 2, 3],
      entries: 2,
      hits: 3,
      misses: 1,
    });
  }, 120_000);
});
