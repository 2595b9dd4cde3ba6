/**
 * The `embedcache` CLI as a user runs it: the BUILT entry point (dist/src/cli/main.js; build
 * first with `npx tsc -p tsconfig.build.json` or `npm test`) in a child process, against cache
 * folders this test creates through the public API (EmbeddingCache.open with spill persist).
 * Checks the numbers, the --json shapes, the exit codes (0 ok, 1 problem, 2 usage, 3 not a
 * cache), corruption found by verify, the export file format (an independent writer below
 * builds a file from the documented layout), a bit-exact export → import → export round trip
 * that a cache opened on the new folder serves, and compaction.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { open as openLmdb } from 'lmdb';
import { beforeAll, describe, expect, it } from 'vitest';
import { EmbeddingCache } from '../../src/index.js';
import { EXPORT_VERSION } from '../../src/cli/export-format.js';
import { FORMAT_VERSION } from '../../src/spill/format.js';
import { SpillTier } from '../../src/spill/tier.js';
import { useCaches } from '../support/caches.js';
import { textFor, vector } from '../support/data.mjs';
import { expectBitExact } from '../support/expect.js';
import { tempDir } from '../support/temp.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(repo, 'dist/src/cli/main.js');
const A = { model: 'a', dims: 16, n: 60 };
const B = { model: 'b', dims: 8, n: 25 };
const DELETED = [0, 1, 2];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built CLI; never rejects (the exit code is part of the result). */
function cli(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { cwd: repo, env: { ...process.env, EMBEDCACHE_DEBUG: '' } },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

async function cliJson<T = Record<string, any>>(...args: string[]): Promise<{ run: Run; json: T }> {
  const run = await cli(...args, '--json');
  return { run, json: JSON.parse(run.stdout) as T };
}

/** A persisted cache: A.n entries of model a (DELETED deleted again), B.n of model b. */
async function makeCache(path: string, keyHash: 'xxhash' | 'sha256' = 'xxhash'): Promise<void> {
  const cache = await EmbeddingCache.open({ keyHash, spill: { path, persist: true } });
  for (let i = 0; i < A.n; i++) cache.set(textFor(i), vector(i, A.dims), { model: A.model });
  for (let i = 0; i < B.n; i++) cache.set(textFor(i), vector(1000 + i, B.dims), { model: B.model });
  for (const i of DELETED) cache.delete(textFor(i), { model: A.model });
  await cache.close();
}

function expectOneLineError(run: Run, code: number, text: string): void {
  expect(run.code).toBe(code);
  const lines = run.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^embedcache: /);
  expect(lines[0]).toContain(text);
  expect(run.stderr).not.toMatch(/^\s+at /m); // no stack trace
}

/** The LMDB environment of a cache folder, opened directly (as the spill tier opens it). */
function openEnv(path: string) {
  const root = openLmdb<Uint8Array, Uint8Array>({
    path,
    maxDbs: 8,
    keyEncoding: 'binary',
    encoding: 'binary',
    eventTurnBatching: false,
    overlappingSync: false,
  });
  const records = root.openDB<Uint8Array, Uint8Array>({
    name: 'embedcache-records',
    keyEncoding: 'binary',
    encoding: 'binary',
    useVersions: true,
  });
  return { root, records };
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

beforeAll(() => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build first (npx tsc -p tsconfig.build.json)`);
});

describe('embedcache CLI', () => {
  const open = useCaches();

  it('--help exits 0 everywhere; unknown commands, options and missing arguments exit 2', async () => {
    const help = await cli('--help');
    expect(help.code).toBe(0);
    for (const c of ['stats', 'verify', 'export', 'import', 'compact']) expect(help.stdout).toContain(c);
    expect(help.stdout).toContain('Exit codes');
    for (const c of ['stats', 'verify', 'export', 'import', 'compact']) {
      const r = await cli(c, '--help');
      expect(r.code, c).toBe(0);
      expect(r.stdout).toContain(`Usage: embedcache ${c}`);
    }
    expect((await cli('frobnicate')).code).toBe(2);
    expect((await cli('frobnicate')).stderr).toContain("unknown command 'frobnicate'");
    expect((await cli()).code).toBe(2);
    expect((await cli('stats')).code).toBe(2);
    expect((await cli('stats', tempDir(), '--bogus')).code).toBe(2);
    expect((await cli('export', tempDir())).code).toBe(2); // --out is required
    expect((await cli('verify', tempDir(), '--limit', 'many')).code).toBe(2);
  });

  it('stats: entries, bytes, models, format, tombstones, file size (text and --json)', async () => {
    const path = tempDir();
    await makeCache(path);
    const { run, json } = await cliJson('stats', path);
    expect(run.code).toBe(0);
    expect(json).toMatchObject({
      path,
      formatVersion: FORMAT_VERSION,
      keyHash: 'xxhash',
      entries: A.n + B.n,
      records: A.n - DELETED.length + B.n,
      tombstones: DELETED.length,
      expired: 0,
      unreachable: 0,
      corrupt: 0,
      fileBytes: statSync(join(path, 'data.mdb')).size,
      pageSize: 4096,
      fleet: [],
    });
    expect(json.seedFingerprint).toMatch(/^[0-9a-f]{8}$/);
    expect(json.bytes).toBeGreaterThan(0);
    expect(json.bytes).toBeLessThanOrEqual(json.fileBytes);
    expect(json.models).toEqual([
      {
        name: 'a',
        id: 1,
        dims: A.dims,
        generation: 0,
        records: A.n - 3,
        tombstones: 3,
        expired: 0,
        unreachable: 0,
      },
      {
        name: 'b',
        id: 2,
        dims: B.dims,
        generation: 0,
        records: B.n,
        tombstones: 0,
        expired: 0,
        unreachable: 0,
      },
    ]);
    // The library counts the same entries.
    const cache = await open({ spill: { path } });
    expect(cache.stats().spill!.entries).toBe(json.entries);
    await cache.close();

    const text = await cli('stats', path);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`entries      ${A.n + B.n}: ${A.n - 3 + B.n} live, 3 tombstones`);
    expect(text.stdout).toMatch(/^\s+a\s+16\s+0\s+57\s+3\s+0\s+0$/m);
    expect(text.stdout).toMatch(/^\s+b\s+8\s+0\s+25\s+0\s+0\s+0$/m);
  });

  it('stats after invalidateModel shows the new generation', async () => {
    const path = tempDir();
    await makeCache(path);
    const cache = await open({ spill: { path, persist: true } });
    cache.invalidateModel(B.model);
    for (let i = 0; i < 4; i++) cache.set(textFor(i), vector(i, B.dims), { model: B.model });
    await cache.close();
    const { json } = await cliJson('stats', path);
    const b = json.models.find((m: { name: string }) => m.name === 'b');
    expect(b).toMatchObject({ generation: 1, dims: B.dims, records: 4 });
    expect(json.entries).toBe(
      json.records + json.tombstones + json.expired + json.unreachable + json.corrupt,
    );
  });

  it('verify: a clean cache exits 0; corrupt records exit 1 and are named with why', async () => {
    const path = tempDir();
    await makeCache(path);
    const clean = await cliJson('verify', path);
    expect(clean.run.code).toBe(0);
    expect(clean.json).toMatchObject({
      ok: true,
      scanned: A.n + B.n,
      corrupt: 0,
      corruptRecords: [],
      missingAge: 0,
    });
    expect((await cli('verify', path)).stdout).toContain(': ok');

    // Damage two records of model a: one overwritten with garbage, one whose header names
    // another model id than its key.
    const env = openEnv(path);
    const victims = Array.from(env.records.getRange(), ({ key, value, version }) => ({
      key: new Uint8Array(key),
      value: new Uint8Array(value),
      version: version!,
    }))
      .filter((r) => r.value.length > 40) // records holding a vector, not tombstones
      .slice(0, 2);
    const garbage = new Uint8Array(victims[0]!.value.length).map((_, i) => (i * 131 + 7) & 0xff);
    env.records.putSync(victims[0]!.key, garbage, victims[0]!.version);
    const other = new Uint8Array(victims[1]!.value);
    new DataView(other.buffer).setUint32(8, 99, true); // model id field
    env.records.putSync(victims[1]!.key, other, victims[1]!.version);
    await env.root.close();

    const bad = await cliJson('verify', path);
    expect(bad.run.code).toBe(1);
    expect(bad.json.ok).toBe(false);
    expect(bad.json.corrupt).toBe(2);
    expect(bad.json.scanned).toBe(A.n + B.n);
    const named = bad.json.corruptRecords as { model: string; key: string; why: string }[];
    expect(named.map((r) => r.key)).toEqual(victims.map((v) => hex(v.key.subarray(8))));
    expect(named.every((r) => r.model === 'a')).toBe(true);
    expect(named[0]!.why).toContain('magic');
    expect(named[1]!.why).toContain('model id 99');

    const text = await cli('verify', path);
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('PROBLEMS FOUND');
    expect(text.stdout).toContain(hex(victims[0]!.key.subarray(8)));
    expect(text.stdout).toContain(hex(victims[1]!.key.subarray(8)));

    // stats still works, and export skips the two and says so (exit 1).
    expect((await cliJson('stats', path)).json.corrupt).toBe(2);
    const out = join(tempDir(), 'x.ecx');
    const exp = await cliJson('export', path, '--out', out);
    expect(exp.run.code).toBe(1);
    expect(exp.json.skipped.corrupt).toBe(2);
    expect(exp.json.records).toBe(A.n - 3 + B.n - 2);
  });

  it('export → import into a new folder → export is bit-exact, and a cache on the new folder serves the vectors', async () => {
    const src = tempDir();
    await makeCache(src);
    const work = tempDir();
    const [e1, e2, dst] = [join(work, 'one.ecx'), join(work, 'two.ecx'), join(work, 'new', 'cache')];
    const exp = await cliJson('export', src, '--out', e1);
    expect(exp.run.code).toBe(0);
    expect(exp.json).toMatchObject({
      records: A.n - 3 + B.n,
      models: { a: A.n - 3, b: B.n },
      skipped: { expired: 0, tombstones: 3, corrupt: 0 },
      bytes: statSync(e1).size,
    });
    const imp = await cliJson('import', e1, dst);
    expect(imp.run.code).toBe(0);
    expect(imp.json).toMatchObject({
      created: true,
      records: A.n - 3 + B.n,
      imported: A.n - 3 + B.n,
      failed: 0,
    });
    expect((await cli('export', dst, '--out', e2)).code).toBe(0);
    expect(readFileSync(e2).equals(readFileSync(e1))).toBe(true);
    expect((await cli('verify', dst)).code).toBe(0);
    expect((await cliJson('stats', dst)).json.seedFingerprint).toBe(
      (await cliJson('stats', src)).json.seedFingerprint,
    );

    const cache = await open({ spill: { path: dst } });
    for (let i = 3; i < A.n; i++)
      expectBitExact(cache.get(textFor(i), { model: A.model }), vector(i, A.dims));
    for (let i = 0; i < B.n; i++)
      expectBitExact(cache.get(textFor(i), { model: B.model }), vector(1000 + i, B.dims));
    for (const i of DELETED) expect(cache.get(textFor(i), { model: A.model })).toBeUndefined();
    await cache.close();

    // Into an existing empty folder too, and again into a cache with the same seed (no change).
    const empty = tempDir();
    expect((await cliJson('import', e1, empty)).json.created).toBe(true);
    const again = await cliJson('import', e1, dst);
    expect(again.run.code).toBe(0);
    expect(again.json.created).toBe(false);
    expect((await cli('export', dst, '--out', e2)).code).toBe(0);
    expect(readFileSync(e2).equals(readFileSync(e1))).toBe(true);
  });

  it('export --model keeps only the named models; an unknown model is a usage error', async () => {
    const src = tempDir();
    await makeCache(src);
    const out = join(tempDir(), 'b.ecx');
    const exp = await cliJson('export', src, '--out', out, '--model', 'b');
    expect(exp.run.code).toBe(0);
    expect(exp.json).toMatchObject({ records: B.n, models: { b: B.n } });
    const dst = join(tempDir(), 'only-b');
    expect((await cli('import', out, dst)).code).toBe(0);
    const stats = (await cliJson('stats', dst)).json;
    expect(stats.models.map((m: { name: string }) => m.name)).toEqual(['b']);
    expect(stats.records).toBe(B.n);

    const unknown = await cli('export', src, '--out', out, '--model', 'nope');
    expectOneLineError(unknown, 2, "no model 'nope'");
  });

  it('import refuses a cache with another key seed or key hash, and damaged export files', async () => {
    const src = tempDir();
    await makeCache(src);
    const file = join(tempDir(), 'e.ecx');
    expect((await cli('export', src, '--out', file)).code).toBe(0);

    const otherSeed = tempDir();
    await makeCache(otherSeed); // same options, but its own random key seed
    const before = (await cliJson('stats', otherSeed)).json;
    expectOneLineError(await cli('import', file, otherSeed), 3, 'key seed');
    expect((await cliJson('stats', otherSeed)).json).toEqual(before); // nothing written

    const sha = tempDir();
    await makeCache(sha, 'sha256');
    expectOneLineError(await cli('import', file, sha), 3, "keyHash 'sha256'");

    const bytes = readFileSync(file);
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 100]! ^= 0x01; // inside the last record (its key)
    writeFileSync(file + '.flip', flipped);
    const target = join(tempDir(), 'never');
    expectOneLineError(await cli('import', file + '.flip', target), 3, 'SHA-256');
    writeFileSync(file + '.cut', bytes.subarray(0, bytes.length - 500));
    expectOneLineError(await cli('import', file + '.cut', target), 3, 'truncated');
    expect(existsSync(target)).toBe(false); // the file is checked whole before anything is written
    const junk = await cliJson('import', join(src, 'data.mdb'), target);
    expect(junk.run.code).toBe(3);
    expect(junk.json.error.code).toBe('NOT_AN_EXPORT');
  });

  it('fleet generations travel with the export; an import into a cache with other ones is refused', async () => {
    const src = tempDir();
    await makeCache(src);
    const mark = async (path: string, epoch: number, gens: Record<string, number>): Promise<void> => {
      const tier = SpillTier.open({ path, keyHash: 'xxhash', seed: new Uint8Array(32) }); // the file's seed wins
      expect(await tier.saveFleetMarks('fleet', { epoch, gens })).toBe(true);
      await tier.close();
    };
    await mark(src, 3, { a: 5 });
    const work = tempDir();
    const [e1, e2, dst] = [join(work, '1.ecx'), join(work, '2.ecx'), join(work, 'dst')];
    expect((await cli('export', src, '--out', e1)).code).toBe(0);
    expect((await cli('import', e1, dst)).code).toBe(0);
    expect((await cliJson('stats', dst)).json.fleet).toEqual([{ prefix: 'fleet', epoch: 3, gens: { a: 5 } }]);
    expect((await cli('export', dst, '--out', e2)).code).toBe(0);
    expect(readFileSync(e2).equals(readFileSync(e1))).toBe(true);

    await mark(dst, 4, { a: 5 }); // the fleet cleared since
    expectOneLineError(await cli('import', e1, dst), 3, "fleet generations for remote prefix 'fleet'");
  });

  it('the export format is the documented one: a hand-written file imports, expired records are skipped', async () => {
    const seed = new Uint8Array(32).map((_, i) => 255 - i);
    const meta = Buffer.from('{"fleet":{}}');
    const head = Buffer.alloc(16);
    Buffer.from([0x89, 0x45, 0x43, 0x58, 0x0d, 0x0a, 0x1a, 0x0a]).copy(head, 0);
    head.writeUInt16LE(EXPORT_VERSION, 8); // export version
    head.writeUInt8(2, 10); // sha256
    head.writeUInt8(32, 11);
    head.writeUInt32LE(meta.length, 12);
    const record = (
      model: string,
      key: number,
      createdMs: number,
      expiresMs: number,
      v: Float32Array,
    ): Buffer => {
      const name = Buffer.from(model);
      const body = Buffer.alloc(2 + name.length + 16 + 8 + 8 + 4 + 4 * v.length);
      let at = body.writeUInt16LE(name.length, 0);
      at += name.copy(body, at);
      body.fill(key, at, at + 16);
      at += 16;
      at = body.writeDoubleLE(createdMs, at);
      at = body.writeDoubleLE(expiresMs, at);
      at = body.writeUInt32LE(v.length, at);
      Buffer.from(v.buffer, v.byteOffset, v.byteLength).copy(body, at);
      const len = Buffer.alloc(4);
      len.writeUInt32LE(body.length);
      return Buffer.concat([len, body]);
    };
    const far = Date.now() + 3_600_000;
    const live1 = record('m', 1, 1000, 0, vector(1, 4));
    const expired = record('m', 2, 1000, 5000, vector(2, 4)); // expired in 1970
    const live2 = record('m', 3, 1000, far, vector(3, 4));
    const write = (recs: Buffer[]): string => {
      const end = Buffer.alloc(12);
      end.writeBigUInt64LE(BigInt(recs.length), 4);
      const body = Buffer.concat([head, seed, meta, ...recs, end]);
      const file = join(tempDir(), 'hand.ecx');
      writeFileSync(file, Buffer.concat([body, createHash('sha256').update(body).digest()]));
      return file;
    };
    const dst = join(tempDir(), 'hand');
    const imp = await cliJson('import', write([live1, expired, live2]), dst);
    expect(imp.run.code).toBe(0);
    expect(imp.json).toMatchObject({ records: 3, imported: 2, skipped: { expired: 1 }, models: { m: 2 } });
    const stats = (await cliJson('stats', dst)).json;
    expect(stats).toMatchObject({ keyHash: 'sha256', records: 2 });
    expect(stats.seedFingerprint).toBe(createHash('sha256').update(seed).digest('hex').slice(0, 8));
    // Exported again: exactly the two live records, byte for byte as written by hand.
    const out = join(tempDir(), 'again.ecx');
    expect((await cli('export', dst, '--out', out)).code).toBe(0);
    expect(readFileSync(out).equals(readFileSync(write([live1, live2])))).toBe(true);

    // An export of an older version (its content keys were XXH64-based) is refused, naming both.
    expect(EXPORT_VERSION).toBe(3);
    const old = readFileSync(write([live1]));
    old.writeUInt16LE(2, 8);
    const oldFile = join(tempDir(), 'old.ecx');
    writeFileSync(oldFile, old);
    expectOneLineError(
      await cli('import', oldFile, join(tempDir(), 'from-old')),
      3,
      'it has export version 2; this embedcache reads 3',
    );
  });

  it('compact shrinks the file after many deletes; the cache still serves; refused while in use', async () => {
    const path = tempDir();
    const dims = 256;
    const n = 1500;
    const cache = await EmbeddingCache.open({ spill: { path, persist: true } });
    for (let i = 0; i < n; i++) cache.set(textFor(i), vector(i, dims));
    await cache.flush();
    for (let i = 0; i < n - 100; i++) cache.delete(textFor(i));
    await cache.close();
    const before = statSync(join(path, 'data.mdb')).size;

    const run = await cliJson('compact', path);
    expect(run.run.code).toBe(0);
    expect(run.json).toMatchObject({ path, bytesBefore: before, entries: n });
    expect(run.json.bytesAfter).toBe(statSync(join(path, 'data.mdb')).size);
    expect(run.json.bytesAfter).toBeLessThan(before * 0.6);
    expect((await cli('verify', path)).code).toBe(0);
    expect((await cli('compact', path)).stdout).toMatch(/^compacted .* bytes/);

    const reopened = await open({ spill: { path } });
    for (let i = n - 100; i < n; i++) expectBitExact(reopened.get(textFor(i)), vector(i, dims));
    expect(reopened.get(textFor(0))).toBeUndefined();
    // This test process now holds the folder open (and has read from it): compact refuses.
    const busy = await cli('compact', path);
    expectOneLineError(busy, 3, `in use by process ${process.pid}`);
    await reopened.close();
  });

  it('a path that is not a cache: exit 3 with one clear line, for every command', async () => {
    const root = tempDir();
    const empty = join(root, 'empty');
    mkdirSync(empty);
    const file = join(root, 'file.bin');
    writeFileSync(file, Buffer.alloc(5000, 7));
    const junk = join(root, 'junk');
    mkdirSync(junk);
    writeFileSync(join(junk, 'data.mdb'), Buffer.alloc(20000, 0x5a));
    const foreign = join(root, 'foreign');
    const env = openLmdb({ path: foreign });
    await env.put('someone-else', 'value');
    await env.close();
    const cases: [string, string][] = [
      [join(root, 'missing'), 'no such file or folder'],
      [empty, 'the folder is empty'],
      [file, 'it is a file, not a folder'],
      [junk, 'not an LMDB file'],
      [foreign, 'LMDB environment that embedcache did not write'],
    ];
    for (const [path, why] of cases) {
      for (const args of [['stats'], ['verify'], ['export', '--out', join(root, 'x.ecx')], ['compact']]) {
        const run = await cli(args[0]!, path, ...args.slice(1));
        expectOneLineError(run, 3, `${path} is not an embedcache cache folder: `);
        expect(run.stderr).toContain(why);
      }
    }
    const json = await cliJson('stats', empty);
    expect(json.run.code).toBe(3);
    expect(json.json).toEqual({
      error: { code: 'NOT_A_CACHE', exitCode: 3, message: expect.stringContaining(empty) },
    });
    // import refuses a folder that is neither empty nor a cache, and leaves it alone.
    const src = tempDir();
    await makeCache(src);
    const out = join(root, 'x.ecx');
    expect((await cli('export', src, '--out', out)).code).toBe(0);
    writeFileSync(join(empty, 'notes.txt'), 'mine');
    expectOneLineError(await cli('import', out, empty), 3, 'holds no data.mdb');
    expect(existsSync(join(empty, 'data.mdb'))).toBe(false);
    expectOneLineError(await cli('import', out, foreign), 3, 'did not write');
  });
});
