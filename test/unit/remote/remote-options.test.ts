/**
 * options.remote is validated at open, before anything connects: every bad remote option throws
 * a TypeError or RangeError (not an EmbeddingCacheError) whose message names the option. Good
 * options open a cache on a real redis-server.
 */
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddingCache, EmbeddingCacheError } from '../../../src/index.js';
import { startRedis, type RedisServer } from '../../support/redis.js';

async function openError(options: unknown): Promise<Error> {
  try {
    const c = await EmbeddingCache.open(options as never);
    await c.close();
  } catch (e) {
    return e as Error;
  }
  throw new Error(`EmbeddingCache.open(${String(JSON.stringify(options))}) did not throw`);
}

/** Something with sendCommand and duplicate, like a node-redis client (never connected). */
const fakeClient = { sendCommand: async () => null, duplicate: () => fakeClient };
// Nothing listens there: a cache that got past validation would connect, fail and still open.
const URL = 'redis://127.0.0.1:1';

/** [option named in the message, remote options, error class (either, for a value of the wrong type)] */
const BAD: [string, unknown, (typeof TypeError | typeof RangeError)?][] = [
  ['remote', null, TypeError],
  ['remote', 'redis://127.0.0.1:6379', TypeError],
  ['remote', [URL], TypeError],
  // exactly one of url and client
  ['url', { url: URL, client: fakeClient }, TypeError],
  ['client', { url: URL, client: fakeClient }, TypeError],
  ['url', {}, TypeError],
  ['client', { prefix: 'p' }, TypeError],
  // url
  ['remote.url', { url: 'http://127.0.0.1:6379' }, TypeError],
  ['remote.url', { url: '127.0.0.1:6379' }, TypeError],
  ['remote.url', { url: 'redis:127.0.0.1' }, TypeError],
  ['remote.url', { url: '' }, TypeError],
  ['remote.url', { url: 6379 }, TypeError],
  ['remote.url', { url: null }, TypeError],
  // client
  ['remote.client', { client: {} }, TypeError],
  ['remote.client', { client: { sendCommand: () => null } }, TypeError],
  ['remote.client', { client: 'redis://127.0.0.1:6379' }, TypeError],
  ['remote.client', { client: null }, TypeError],
  // prefix
  ['remote.prefix', { url: URL, prefix: 'a{b}' }, RangeError],
  ['remote.prefix', { url: URL, prefix: '{tag}' }, RangeError],
  ['remote.prefix', { url: URL, prefix: 'a}' }, RangeError],
  ['remote.prefix', { url: URL, prefix: '' }, RangeError],
  ['remote.prefix', { url: URL, prefix: 'x'.repeat(65) }, RangeError],
  ['remote.prefix', { url: URL, prefix: 'a b' }, RangeError],
  ['remote.prefix', { url: URL, prefix: 'a*' }, RangeError],
  ['remote.prefix', { url: URL, prefix: 7 }],
  // ttlMs
  ['remote.ttlMs', { url: URL, ttlMs: -1 }, RangeError],
  ['remote.ttlMs', { url: URL, ttlMs: 1.5 }, RangeError],
  ['remote.ttlMs', { url: URL, ttlMs: NaN }, RangeError],
  ['remote.ttlMs', { url: URL, ttlMs: Infinity }, RangeError],
  ['remote.ttlMs', { url: URL, ttlMs: '1000' }],
  // timeoutMs
  ['remote.timeoutMs', { url: URL, timeoutMs: 0 }, RangeError],
  ['remote.timeoutMs', { url: URL, timeoutMs: -5 }, RangeError],
  ['remote.timeoutMs', { url: URL, timeoutMs: 0.5 }, RangeError],
  ['remote.timeoutMs', { url: URL, timeoutMs: 60_001 }, RangeError],
  ['remote.timeoutMs', { url: URL, timeoutMs: NaN }, RangeError],
  ['remote.timeoutMs', { url: URL, timeoutMs: '500' }],
  // leaseMs
  ['remote.leaseMs', { url: URL, leaseMs: 99 }, RangeError],
  ['remote.leaseMs', { url: URL, leaseMs: 0 }, RangeError],
  ['remote.leaseMs', { url: URL, leaseMs: 150.5 }, RangeError],
  ['remote.leaseMs', { url: URL, leaseMs: 2 ** 30 + 1 }, RangeError],
  // secret
  ['remote.secret', { url: URL, secret: 'too-short-secret'.slice(0, 15) }, RangeError],
  ['remote.secret', { url: URL, secret: '' }, RangeError],
  ['remote.secret', { url: URL, secret: new Uint8Array(15) }, RangeError],
  ['remote.secret', { url: URL, secret: 1234567890123456789 }],
  ['remote.secret', { url: URL, secret: Array.from({ length: 32 }, () => 1) }],
  // unknown keys
  ['remote.host', { url: URL, host: '127.0.0.1' }, TypeError],
  ['remote.timeout', { url: URL, timeout: 100 }, TypeError],
  ['remote.Prefix', { url: URL, Prefix: 'p' }, TypeError],
];

describe('remote options validation', { timeout: 60_000 }, () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it.each(BAD)('names %s for remote: %o', async (name, remote, kind?) => {
    const err = await openError({ remote });
    expect(err instanceof TypeError || err instanceof RangeError).toBe(true);
    if (kind !== undefined) expect(err).toBeInstanceOf(kind);
    expect(err).not.toBeInstanceOf(EmbeddingCacheError);
    expect(err.message).toContain(name);
    expect(err.message.length).toBeGreaterThan(30);
  });

  it('a bad remote option is refused even alongside a good spill option, and nothing was created', async () => {
    const err = await openError({
      spill: { path: '/nonexistent/never/created' },
      remote: { url: 'ftp://x' },
    });
    expect(err).toBeInstanceOf(TypeError);
    expect(err.message).toContain('remote.url');
  });

  it('the message of a secret that is too short says how long it must be, and never echoes it', async () => {
    const secret = 'fifteen-bytes!!';
    expect(new TextEncoder().encode(secret).length).toBe(15);
    const err = await openError({ remote: { url: URL, secret } });
    expect(err.message).toMatch(/16 bytes/);
    expect(err.message).not.toContain(secret);
    // 16 bytes of UTF-8 in 8 characters is long enough.
    const c = await EmbeddingCache.open({
      remote: { url: server.url, secret: '\u00e9'.repeat(8), prefix: 'utf8' },
    });
    expect(c.stats().remote!.state).toBe('up');
    await c.close();
  });

  it('good options open: url with every option at its bounds, and a node-redis client', async () => {
    const a = await EmbeddingCache.open({
      remote: {
        url: server.url,
        prefix: 'a:b.c-d_e',
        ttlMs: 0,
        timeoutMs: 1,
        leaseMs: 100,
        secret: new Uint8Array(16).fill(7),
      },
    });
    const b = await EmbeddingCache.open({
      remote: {
        url: server.url,
        prefix: 'x'.repeat(64),
        ttlMs: 2 ** 40,
        timeoutMs: 60_000,
        leaseMs: 2 ** 30,
      },
    });
    expect(b.stats().remote).toMatchObject({ state: 'up', errors: 0 });
    const client = createClient({ url: server.url });
    await client.connect();
    try {
      const c = await EmbeddingCache.open({ remote: { client, prefix: 'viaclient' } });
      c.set('t', new Float32Array([1, 2, 3]));
      await c.flush();
      expect(c.stats().remote).toMatchObject({ state: 'up', writes: 1, errors: 0 });
      await c.close();
      // The cache never closes a client it was given.
      expect(client.isOpen).toBe(true);
      expect(await client.exists('viaclient:secret')).toBe(1);
    } finally {
      await a.close();
      await b.close();
      client.destroy();
    }
  });
});
