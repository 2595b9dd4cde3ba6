/**
 * The remote tier shared by a fleet, through the public API, against a real redis-server. Every
 * cache here has memory of its own (opened with EmbeddingCache.open, or in another process), so
 * anything one finds that another set came through Redis:
 *
 * - sharing: vectors set by another process come back from fetchMany bit for bit and are kept
 *   in memory; getOrCompute embeds nothing another cache already stored;
 * - deletes leave a tombstone that a late write of an older copy cannot pass;
 * - bytes under the prefix that are not a whole value of the model (foreign, another dimension,
 *   truncated, another model) are misses counted as `invalid`, never errors or wrong vectors;
 * - TTLs: a value's own and the tier's remote.ttlMs bound the key's PX;
 * - invalidateModel / clear reach other caches' memory within ~1 s, and a spill file written
 *   before a bump is not served after it;
 * - remote.secret: a fleet secret derived, never stored; another secret shares nothing;
 * - a non-empty spill file keyed by another secret than the fleet's is refused at open.
 *
 * The child process (fixtures/remote-writer.mjs) imports dist/: build first (npm run build).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createClient, RESP_TYPES } from 'redis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { EmbeddingCache, type RemoteStats } from '../../src/index.js';
import { encodeValue } from '../../src/remote/format.js';
import { useCaches } from '../support/caches.js';
import { textFor, vector, vectorFor } from '../support/data.mjs';
import { expectBitExact, expectCacheErrorAsync } from '../support/expect.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { tempDir } from '../support/temp.js';

const run = promisify(execFile);
const writer = fileURLToPath(new URL('./fixtures/remote-writer.mjs', import.meta.url));

const DIMS = 8;

/** A node-redis client whose bulk replies are Buffers (binary-safe GET and SET). */
type RawClient = ReturnType<typeof rawClient>;
function rawClient(url: string) {
  return createClient({ url }).withTypeMapping({ [RESP_TYPES.BLOB_STRING]: Buffer });
}

function remoteOf(c: EmbeddingCache): RemoteStats {
  const r = c.stats().remote;
  expect(r).toBeDefined();
  return r!;
}

/** A fleet secret's short name, as the cache's messages print it (first 8 hex of SHA-256). */
function fingerprint(secret: Uint8Array): string {
  return createHash('sha256').update(secret).digest('hex').slice(0, 8);
}

/**
 * A node-redis client for remote.client whose commands can be held back (hold) and let go
 * (release): a write queued while held reaches Redis only after release — a late write.
 */
function gatedClient(url: string) {
  const real = createClient({ url });
  let gate: Promise<void> = Promise.resolve();
  let open: () => void = () => {};
  const client = {
    get isOpen() {
      return real.isOpen;
    },
    options: real.options,
    on: (event: string, listener: (...a: unknown[]) => void) => {
      (real as unknown as NodeJS.EventEmitter).on(event, listener);
      return client;
    },
    connect: () => real.connect(),
    sendCommand: async (...args: unknown[]) => {
      await gate;
      return (real.sendCommand as (...a: unknown[]) => Promise<unknown>)(...args);
    },
    duplicate: () => real.duplicate(),
  };
  return {
    client,
    connect: () => real.connect(),
    hold: () => {
      gate = new Promise((resolve) => (open = resolve));
    },
    release: () => open(),
    close: () => real.destroy(),
  };
}

describe('remote tier: a fleet shares one Redis', { timeout: 60_000 }, () => {
  let server: RedisServer;
  let raw: RawClient;
  const open = useCaches();

  beforeAll(async () => {
    server = await startRedis();
    raw = rawClient(server.url);
    await raw.connect();
  });
  afterAll(async () => {
    raw?.destroy();
    await server?.stop();
  });
  beforeEach(async () => {
    await server.cli('FLUSHALL');
  });

  /** The value keys (not leases) under `prefix`. */
  async function valueKeys(prefix: string): Promise<string[]> {
    const keys = await raw.keys(`${prefix}:{*`);
    return keys
      .map(String)
      .filter((k) => !k.includes(':lease:'))
      .sort();
  }

  it('vectors set by another process come back bit-exact from fetchMany, then from memory', async () => {
    const n = 100;
    const texts = Array.from({ length: n }, (_, i) => textFor(i));
    const cache = await open({ remote: { url: server.url, prefix: 'share' } });

    // Before the other process writes: every text is a remote miss.
    expect((await cache.fetchMany(texts)).every((v) => v === undefined)).toBe(true);
    expect(remoteOf(cache)).toMatchObject({ hits: 0, misses: n, errors: 0, invalid: 0, state: 'up' });

    const { stdout } = await run(process.execPath, [writer, server.url, 'share', String(n), '768'], {
      maxBuffer: 1 << 20,
    });
    const child = JSON.parse(stdout.trim().split('\n').pop()!) as RemoteStats;
    expect(child).toMatchObject({ writes: n, errors: 0, state: 'up' });
    expect(await valueKeys('share')).toHaveLength(n);

    const got = await cache.fetchMany(texts);
    for (let i = 0; i < n; i++) expectBitExact(got[i], vector(i, 768));
    expect(remoteOf(cache)).toMatchObject({ hits: n, misses: n, errors: 0, invalid: 0 });
    expect(cache.stats().entries).toBe(n); // adopted into this cache's memory

    // Served from memory now: Redis is not asked again.
    const hitsBefore = cache.stats().hits;
    const again = await cache.fetchMany(texts);
    for (let i = 0; i < n; i++) expectBitExact(again[i], vector(i, 768));
    expect(remoteOf(cache)).toMatchObject({ hits: n, misses: n });
    expect(cache.stats().hits).toBe(hitsBefore + n);
    for (let i = 0; i < n; i += 17) expectBitExact(cache.get(texts[i]!), vector(i, 768));
  });

  it('getOrCompute embeds nothing that another cache set and flushed', async () => {
    const a = await open({ remote: { url: server.url, prefix: 'goc' } });
    const b = await open({ remote: { url: server.url, prefix: 'goc' } });
    const texts = Array.from({ length: 20 }, (_, i) => textFor(i));
    a.setMany(
      texts,
      texts.map((_, i) => vector(i, DIMS)),
    );
    await a.flush();
    expect(remoteOf(a)).toMatchObject({ writes: 20, errors: 0 });

    const calls: string[][] = [];
    const embed = (missing: string[]): Float32Array[] => {
      calls.push(missing);
      return missing.map(() => vector(999, DIMS));
    };
    const got = await b.getOrCompute(texts, embed);
    expect(calls).toEqual([]);
    for (let i = 0; i < texts.length; i++) expectBitExact(got[i], vector(i, DIMS));
    expect(remoteOf(b).hits).toBe(20);

    // A text nobody stored is embedded once, here, and published for the fleet.
    const fresh = 'a text no cache has seen';
    const mixed = await b.getOrCompute([texts[3]!, fresh], embed);
    expect(calls).toEqual([[fresh]]);
    expectBitExact(mixed[0], vector(3, DIMS));
    expectBitExact(mixed[1], vector(999, DIMS));
    expectBitExact((await a.fetchMany([fresh]))[0], vector(999, DIMS));
  });

  it('a delete leaves a tombstone: another cache misses the text, and its other texts still hit', async () => {
    const a = await open({ remote: { url: server.url, prefix: 'del' } });
    a.set('gone', vector(1, DIMS));
    a.set('kept', vector(2, DIMS));
    await a.flush();
    expect(a.delete('gone')).toBe(true);
    await a.flush();
    expect(remoteOf(a)).toMatchObject({ writes: 3, errors: 0 });

    // Both keys are still in Redis: one holds the vector, one a tombstone (flag 1, no floats).
    const keys = await valueKeys('del');
    expect(keys).toHaveLength(2);
    const values = await Promise.all(keys.map((k) => raw.get(k)));
    const flags = values.map((v) => (v as Buffer)[3]! & 1).sort();
    expect(flags).toEqual([0, 1]);

    const b = await open({ remote: { url: server.url, prefix: 'del' } });
    const got = await b.fetchMany(['gone', 'kept']);
    expect(got[0]).toBeUndefined();
    expectBitExact(got[1], vector(2, DIMS));
    expect(remoteOf(b)).toMatchObject({ hits: 1, misses: 1, invalid: 0, errors: 0 });
    expect(b.get('gone')).toBeUndefined();
  });

  it('a late write of an older copy does not resurrect a deleted text; a later set does', async () => {
    // A's commands can be held back: its set is queued before B's delete but reaches Redis after.
    const gated = gatedClient(server.url);
    await gated.connect();
    let a: EmbeddingCache | undefined;
    try {
      a = await open({ remote: { client: gated.client, prefix: 'late', timeoutMs: 10_000 } });
      const b = await open({ remote: { url: server.url, prefix: 'late' } });
      gated.hold();
      a.set('t', vector(1, DIMS)); // older stamp
      await sleep(5); // the delete's stamp is a later millisecond
      b.delete('t');
      await b.flush(); // the tombstone is in Redis
      const [key] = await valueKeys('late');
      expect(((await raw.get(key!)) as Buffer)[3]! & 1).toBe(1);
      gated.release();
      await a.flush(); // the older copy arrives now, late
      expect(remoteOf(a).errors).toBe(0);
      expect(((await raw.get(key!)) as Buffer)[3]! & 1).toBe(1); // still the tombstone

      const c = await open({ remote: { url: server.url, prefix: 'late' } });
      expect(await c.fetchMany(['t'])).toEqual([undefined]);
      expect(remoteOf(c)).toMatchObject({ hits: 0, misses: 1, invalid: 0 });

      // A set after the delete (a later stamp) replaces the tombstone.
      a.set('t', vector(3, DIMS));
      await a.flush();
      const d = await open({ remote: { url: server.url, prefix: 'late' } });
      expectBitExact((await d.fetchMany(['t']))[0], vector(3, DIMS));
    } finally {
      gated.release();
      await a?.close(); // a cache never closes a client it was given: close it after the cache
      gated.close();
    }
  });

  describe('bytes under the prefix that are not a whole value are misses, counted invalid', () => {
    /** A sets `text` (8-d), the one value key under the prefix is returned after a control read. */
    async function stored(prefix: string, text: string): Promise<string> {
      const a = await open({ remote: { url: server.url, prefix } });
      a.set(text, vector(5, DIMS));
      await a.flush();
      const keys = await valueKeys(prefix);
      expect(keys).toHaveLength(1);
      // Control: the key holds a value another cache reads.
      const probe = await open({ remote: { url: server.url, prefix } });
      expectBitExact((await probe.fetchMany([text]))[0], vector(5, DIMS));
      return keys[0]!;
    }

    /** A fresh cache's view: a miss, counted invalid, nothing adopted; no error. */
    async function expectInvalid(c: EmbeddingCache, text: string): Promise<void> {
      const got = await c.fetchMany([text]);
      expect(got).toEqual([undefined]);
      expect(remoteOf(c)).toMatchObject({ hits: 0, misses: 1, invalid: 1, errors: 0, state: 'up' });
      expect(c.get(text)).toBeUndefined();
    }

    /** getOrCompute over the bad value embeds again and its write heals the key for everyone. */
    async function expectHealed(c: EmbeddingCache, prefix: string, text: string): Promise<void> {
      let calls = 0;
      const got = await c.getOrCompute([text], (missing) => {
        calls++;
        return missing.map(() => vector(6, DIMS));
      });
      expect(calls).toBe(1);
      expectBitExact(got[0], vector(6, DIMS));
      const later = await open({ remote: { url: server.url, prefix } });
      expectBitExact((await later.fetchMany([text]))[0], vector(6, DIMS));
    }

    it('garbage (SET by redis-cli)', async () => {
      const key = await stored('junk', 'text');
      expect(await server.cli('SET', key, 'garbage')).toBe('OK');
      const c = await open({ remote: { url: server.url, prefix: 'junk' } });
      await expectInvalid(c, 'text');
      await expectHealed(c, 'junk', 'text');
    });

    it('a value of another dimension (4 instead of the 8 this cache knows the model has)', async () => {
      const key = await stored('dims', 'text');
      await raw.set(key, encodeValue('default', vector(5, 4), 1, 0));
      const c = await open({ remote: { url: server.url, prefix: 'dims' } });
      c.set('another text', vector(7, DIMS)); // this cache knows the model's dimension: 8
      await c.flush();
      await expectInvalid(c, 'text');
      await expectHealed(c, 'dims', 'text');
    });

    it('a value of another dimension, in one batch after a good one, read by a cache that knows no dimension yet: a miss, not a hit', async () => {
      const a = await open({ remote: { url: server.url, prefix: 'dims2' } });
      a.setMany(['good', 'bad'], [vector(1, DIMS), vector(2, DIMS)]);
      await a.flush();
      // Which key is whose: read them through a probe cache, then overwrite bad's.
      const keys = await valueKeys('dims2');
      expect(keys).toHaveLength(2);
      let badKey: string | undefined;
      for (const k of keys) {
        const v = (await raw.get(k)) as Buffer;
        const floats = new Float32Array(
          v.buffer.slice(v.byteOffset + v.length - DIMS * 4, v.byteOffset + v.length),
        );
        if (floats[0] === vector(2, DIMS)[0]) badKey = k;
      }
      expect(badKey).toBeDefined();
      await raw.set(badKey!, encodeValue('default', vector(2, 4), 1, 0));
      const c = await open({ remote: { url: server.url, prefix: 'dims2' } });
      const got = await c.fetchMany(['good', 'bad']);
      expectBitExact(got[0], vector(1, DIMS));
      expect(got[1]).toBeUndefined();
      // The model keeps its real dimension: 8-d sets still work.
      expect(() => c.set('new', vector(3, DIMS))).not.toThrow();
      expect(remoteOf(c)).toMatchObject({ invalid: 1, errors: 0 });
      // The refused value is a miss, as in the test above, not a hit as well as an invalid.
      expect(remoteOf(c)).toMatchObject({ hits: 1, misses: 1 });
    });

    it('a truncated copy (written back with a binary-safe client)', async () => {
      const key = await stored('trunc', 'text');
      const whole = (await raw.get(key)) as Buffer;
      expect(whole.length).toBeGreaterThan(DIMS * 4);
      for (const cut of [1, 4, DIMS * 4, whole.length - 20]) {
        await raw.set(key, whole.subarray(0, whole.length - cut));
        const c = await open({ remote: { url: server.url, prefix: 'trunc' } });
        await expectInvalid(c, 'text');
        await c.close();
      }
      const c = await open({ remote: { url: server.url, prefix: 'trunc' } });
      await expectInvalid(c, 'text');
      await expectHealed(c, 'trunc', 'text');
    });

    it('a value of another model under this model’s key', async () => {
      const key = await stored('model', 'text');
      await raw.set(key, encodeValue('some-other-model', vector(5, DIMS), 1, 0));
      const c = await open({ remote: { url: server.url, prefix: 'model' } });
      await expectInvalid(c, 'text');
      await expectHealed(c, 'model', 'text');
    });

    it('another format version', async () => {
      const key = await stored('version', 'text');
      const v = Buffer.from((await raw.get(key)) as Buffer);
      v[2] = 2;
      await raw.set(key, v);
      const c = await open({ remote: { url: server.url, prefix: 'version' } });
      await expectInvalid(c, 'text');
    });
  });

  it('TTL: a value set with ttlMs 300 has PX ≤ 300 in Redis and is a miss for a fresh cache after 400 ms', async () => {
    const a = await open({ remote: { url: server.url, prefix: 'ttl' } });
    a.set('short', vector(1, DIMS), { ttlMs: 300 });
    a.set('forever', vector(2, DIMS));
    await a.flush();
    const keys = await valueKeys('ttl');
    expect(keys).toHaveLength(2);
    const pttls = (await Promise.all(keys.map((k) => raw.pTTL(k)))).sort((x, y) => x - y);
    expect(pttls[0]).toBe(-1); // 'forever': no expiry
    expect(pttls[1]).toBeGreaterThan(0);
    expect(pttls[1]).toBeLessThanOrEqual(300);

    // A cache that adopts the value right away also adopts its expiry.
    const early = await open({ remote: { url: server.url, prefix: 'ttl' } });
    expectBitExact((await early.fetchMany(['short']))[0], vector(1, DIMS));

    await sleep(400);
    const late = await open({ remote: { url: server.url, prefix: 'ttl' } });
    const got = await late.fetchMany(['short', 'forever']);
    expect(got[0]).toBeUndefined();
    expectBitExact(got[1], vector(2, DIMS));
    expect(early.get('short')).toBeUndefined();
    expect(a.get('short')).toBeUndefined();
    expect(await valueKeys('ttl')).toHaveLength(1);
  });

  it('remote.ttlMs caps the PX of values without a TTL (and of longer ones); local entries are not capped', async () => {
    const a = await open({ remote: { url: server.url, prefix: 'cap', ttlMs: 300 } });
    a.set('no ttl', vector(1, DIMS));
    a.set('long ttl', vector(2, DIMS), { ttlMs: 60_000 });
    await a.flush();
    const b = await open({ remote: { url: server.url, prefix: 'cap', ttlMs: 60_000 } });
    b.set('short ttl', vector(3, DIMS), { ttlMs: 250 });
    await b.flush();
    const keys = await valueKeys('cap');
    expect(keys).toHaveLength(3);
    const pttls = await Promise.all(keys.map((k) => raw.pTTL(k)));
    for (const [i, k] of keys.entries()) {
      const pttl = pttls[i]!;
      expect(pttl, k).toBeGreaterThan(0);
      expect(pttl, k).toBeLessThanOrEqual(300);
    }
    await sleep(400);
    expect(await valueKeys('cap')).toHaveLength(0);
    const c = await open({ remote: { url: server.url, prefix: 'cap' } });
    expect(await c.fetchMany(['no ttl', 'long ttl', 'short ttl'])).toEqual([undefined, undefined, undefined]);
    // remote.ttlMs bounds Redis only: A's own memory still serves what it set without a TTL.
    expectBitExact(a.get('no ttl'), vector(1, DIMS));
    expectBitExact(a.get('long ttl'), vector(2, DIMS));
  });

  /** Polls `missing()` every 20 ms for up to 5 s; resolves to the ms it took to become true. */
  async function msUntil(missing: () => boolean): Promise<number> {
    const started = Date.now();
    while (!missing()) {
      if (Date.now() - started > 5000) return Infinity;
      await sleep(20);
    }
    return Date.now() - started;
  }

  /** A and B on one prefix; B holds (m, 'one') and (o, 'two') in its own memory, read from Redis. */
  async function twoCaches(prefix: string): Promise<[EmbeddingCache, EmbeddingCache]> {
    const a = await open({ remote: { url: server.url, prefix } });
    const b = await open({ remote: { url: server.url, prefix } });
    a.set('one', vectorFor(1, 0, DIMS), { model: 'm' });
    a.set('two', vectorFor(2, 0, DIMS), { model: 'o' });
    await a.flush();
    expectBitExact((await b.fetchMany(['one'], { model: 'm' }))[0], vectorFor(1, 0, DIMS));
    expectBitExact((await b.fetchMany(['two'], { model: 'o' }))[0], vectorFor(2, 0, DIMS));
    // In B's memory now (get reads no Redis).
    expectBitExact(b.get('one', { model: 'm' }), vectorFor(1, 0, DIMS));
    expectBitExact(b.get('two', { model: 'o' }), vectorFor(2, 0, DIMS));
    return [a, b];
  }

  it('invalidateModel in A reaches B’s memory within 1.5 s; other models still hit', async () => {
    const [a, b] = await twoCaches('inv');
    a.invalidateModel('m');
    const ms = await msUntil(() => b.get('one', { model: 'm' }) === undefined);
    expect(ms).toBeLessThan(1500);
    expectBitExact(b.get('two', { model: 'o' }), vectorFor(2, 0, DIMS));
    await a.flush();
    expect(Number(await server.cli('HGET', 'inv:gens', 'm'))).toBeGreaterThan(0);
    // Redis's old copy is not read any more, by B or by a cache opened now.
    expect(await b.fetchMany(['one'], { model: 'm' })).toEqual([undefined]);
    const c = await open({ remote: { url: server.url, prefix: 'inv' } });
    expect(await c.fetchMany(['one'], { model: 'm' })).toEqual([undefined]);
    expectBitExact((await c.fetchMany(['two'], { model: 'o' }))[0], vectorFor(2, 0, DIMS));
    // The new generation is shared as usual.
    a.set('one', vectorFor(1, 1, DIMS), { model: 'm' });
    await a.flush();
    expectBitExact((await b.fetchMany(['one'], { model: 'm' }))[0], vectorFor(1, 1, DIMS));
  });

  it('clear() in A reaches B’s memory within 1.5 s, for every model', async () => {
    const [a, b] = await twoCaches('clr');
    a.clear();
    const ms = await msUntil(
      () => b.get('one', { model: 'm' }) === undefined && b.get('two', { model: 'o' }) === undefined,
    );
    expect(ms).toBeLessThan(1500);
    await a.flush();
    expect(Number(await server.cli('GET', 'clr:epoch'))).toBeGreaterThan(0);
    const c = await open({ remote: { url: server.url, prefix: 'clr' } });
    expect(await c.fetchMany(['two'], { model: 'o' })).toEqual([undefined]);
    expect(await b.fetchMany(['two'], { model: 'o' })).toEqual([undefined]);
  });

  it('a bump that comes with no message (pub/sub lost) reaches B by its periodic re-read', async () => {
    const [, b] = await twoCaches('quiet');
    // What another machine's HINCRBY does, without its PUBLISH.
    expect(await server.cli('HINCRBY', 'quiet:gens', 'm', '1')).toBe('1');
    // The documented bound is the re-read period (1 s) plus timeoutMs (0.5 s); the margin above
    // it is for a loaded test machine, where timers fire late.
    const ms = await msUntil(() => b.get('one', { model: 'm' }) === undefined);
    expect(ms).toBeLessThan(2500);
    expectBitExact(b.get('two', { model: 'o' }), vectorFor(2, 0, DIMS));
    expect(await server.cli('INCR', 'quiet:epoch')).toBe('1');
    expect(await msUntil(() => b.get('two', { model: 'o' }) === undefined)).toBeLessThan(2500);
  });

  it('a spill file written before a bump is not served after it (its fleet marks are older)', async () => {
    const path = tempDir();
    const remote = { url: server.url, prefix: 'warm' };
    const c = await open({ spill: { path, persist: true }, remote });
    for (let i = 0; i < 5; i++) c.set(textFor(i), vectorFor(i, 0, DIMS), { model: 'm' });
    c.set('other', vectorFor(9, 0, DIMS), { model: 'o' });
    await c.flush();
    await c.close();

    const a = await open({ remote });
    a.invalidateModel('m');
    await a.flush();
    expect(Number(await server.cli('HGET', 'warm:gens', 'm'))).toBeGreaterThan(0);

    const again = await open({ spill: { path, persist: true }, remote });
    for (let i = 0; i < 5; i++) expect(again.get(textFor(i), { model: 'm' }), `text ${i}`).toBeUndefined();
    // Control: the file is warm, the other model is served from disk.
    expectBitExact(again.get('other', { model: 'o' }), vectorFor(9, 0, DIMS));
    await again.close();

    // The same after a clear(): nothing of the file is served.
    a.clear();
    await a.flush();
    expect(Number(await server.cli('GET', 'warm:epoch'))).toBeGreaterThan(0);
    const third = await open({ spill: { path, persist: true }, remote });
    expect(third.get('other', { model: 'o' })).toBeUndefined();
  });

  it('remote.secret: no key secret stored in Redis; the same secret shares entries, another shares none', async () => {
    const secret = 'a-long-shared-secret-123';
    const a = await open({ remote: { url: server.url, prefix: 'sec', secret } });
    const texts = Array.from({ length: 5 }, (_, i) => textFor(i));
    a.setMany(
      texts,
      texts.map((_, i) => vector(i, DIMS)),
    );
    await a.flush();
    expect(await server.cli('EXISTS', 'sec:secret')).toBe('0');
    expect(await valueKeys('sec')).toHaveLength(5);

    const same = await open({
      remote: { url: server.url, prefix: 'sec', secret: new TextEncoder().encode(secret) },
    });
    const got = await same.fetchMany(texts);
    for (let i = 0; i < 5; i++) expectBitExact(got[i], vector(i, DIMS));

    const other = await open({
      remote: { url: server.url, prefix: 'sec', secret: 'another-long-secret-4567' },
    });
    expect(await other.fetchMany(texts)).toEqual(texts.map(() => undefined));
    expect(remoteOf(other)).toMatchObject({ hits: 0, misses: 5, invalid: 0, errors: 0, state: 'up' });
    // Its writes land under other keys: the fleet's entries are untouched.
    other.set(texts[0]!, vector(100, DIMS));
    await other.flush();
    expect(await valueKeys('sec')).toHaveLength(6);
    const check = await open({ remote: { url: server.url, prefix: 'sec', secret } });
    expectBitExact((await check.fetchMany([texts[0]!]))[0], vector(0, DIMS));
    expect(await server.cli('EXISTS', 'sec:secret')).toBe('0');

    // Control: without remote.secret the fleet's secret is stored under the prefix.
    await open({ remote: { url: server.url, prefix: 'nosec' } });
    expect(await server.cli('EXISTS', 'nosec:secret')).toBe('1');
  });

  it('a spill file with entries keyed by another secret is refused with ERR_SPILL_FORMAT naming both', async () => {
    const path = tempDir();
    const local = await open({ spill: { path, persist: true } });
    local.set('text', vector(1, DIMS));
    await local.close();

    const fleet = await open({ remote: { url: server.url, prefix: 'fp' } });
    const fleetSecret = (await raw.get('fp:secret')) as Buffer;
    expect(fleetSecret.length).toBe(32);
    const clients = async (): Promise<number> =>
      Number(/connected_clients:(\d+)/.exec(await server.cli('INFO', 'clients'))![1]);
    const before = await clients();

    const err = await expectCacheErrorAsync(
      () =>
        EmbeddingCache.open({ spill: { path, persist: true }, remote: { url: server.url, prefix: 'fp' } }),
      'ERR_SPILL_FORMAT',
    );
    expect(err.message).toContain(path);
    expect(err.message).toContain(fingerprint(fleetSecret));
    const named = [...err.message.matchAll(/secret ([0-9a-f]{8})\b/g)].map((m) => m[1]);
    expect(named).toHaveLength(2);
    expect(new Set(named).size).toBe(2);
    expect(named).toContain(fingerprint(fleetSecret));

    // The refused open left no connection behind and did not touch the file.
    let after = await clients();
    for (let i = 0; i < 50 && after !== before; i++) {
      await sleep(20);
      after = await clients();
    }
    expect(after).toBe(before);
    const reopened = await open({ spill: { path, persist: true } });
    expectBitExact(reopened.get('text'), vector(1, DIMS));
    expect(await fleet.fetchMany(['text'])).toEqual([undefined]);
  });

  it('an empty spill file (new, or opened before without entries) takes the fleet’s secret silently', async () => {
    const fleet = await open({ remote: { url: server.url, prefix: 'adopt' } });
    const remote = { url: server.url, prefix: 'adopt' };

    const fresh = tempDir();
    const a = await open({ spill: { path: fresh, persist: true }, remote });
    a.set('from a', vector(1, DIMS));
    await a.flush();
    expectBitExact((await fleet.fetchMany(['from a']))[0], vector(1, DIMS)); // keys agree with the fleet
    await a.close();
    const a2 = await open({ spill: { path: fresh, persist: true }, remote });
    expectBitExact(a2.get('from a'), vector(1, DIMS)); // served by the warm file, same keys

    const empty = tempDir();
    const local = await open({ spill: { path: empty, persist: true } });
    expect(local.stats().spill!.entries).toBe(0);
    await local.close();
    const b = await open({ spill: { path: empty, persist: true }, remote });
    expectBitExact((await b.fetchMany(['from a']))[0], vector(1, DIMS));
    expect(remoteOf(b)).toMatchObject({ hits: 1, errors: 0, state: 'up' });
  });
});
