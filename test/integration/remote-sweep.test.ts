/**
 * Old generations leave Redis: after invalidateModel (or clear) the cache that bumped sweeps the
 * prefix (SCAN + UNLINK) and removes the keys of older generations, while keys of other models
 * and of the new generation stay. Against a real redis-server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useCaches } from '../support/caches.js';
import { textFor, vectorFor } from '../support/data.mjs';
import { type RedisServer, startRedis } from '../support/redis.js';

const DIMS = 8;

async function keysOf(server: RedisServer, pattern: string): Promise<string[]> {
  const out = await server.cli('--scan', '--pattern', pattern);
  return out === '' ? [] : out.split('\n');
}

async function until(cond: () => Promise<boolean>, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

describe('remote tier: the background sweep', { timeout: 60_000 }, () => {
  const open = useCaches();
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server.stop();
  });

  it('removes the keys of an invalidated generation and keeps the rest', async () => {
    const a = await open({ maxBytes: 8 * 1024 ** 2, remote: { url: server.url, prefix: 'sw' } });
    const texts = Array.from({ length: 300 }, (_, i) => textFor(i, 30));
    a.setMany(
      texts,
      texts.map((_, i) => vectorFor(i, 1, DIMS)),
      { model: 'old' },
    );
    a.setMany(
      texts.slice(0, 50),
      texts.slice(0, 50).map((_, i) => vectorFor(i, 2, DIMS)),
      { model: 'kept' },
    );
    await a.flush();
    const before = await keysOf(server, 'sw:{*');
    expect(before).toHaveLength(350);

    a.invalidateModel('old');
    a.set('fresh', vectorFor(9, 9, DIMS), { model: 'old' }); // the new generation
    await a.flush();
    const swept = await until(async () => (await keysOf(server, 'sw:{*')).length === 51, 10_000);
    expect(swept, `${(await keysOf(server, 'sw:{*')).length} keys left`).toBe(true);
    // A set made right after invalidateModel belongs to the new generation: neither the bump's
    // answer from Redis nor the sweep takes it away, here or elsewhere.
    expect(a.get('fresh', { model: 'old' })).toBeInstanceOf(Float32Array);
    const b = await open({ maxBytes: 8 * 1024 ** 2, remote: { url: server.url, prefix: 'sw' } });
    const kept = await b.fetchMany(texts.slice(0, 50), { model: 'kept' });
    expect(kept.every((v) => v !== undefined)).toBe(true);
    expect(await b.fetchMany(['fresh'], { model: 'old' })).toEqual([expect.any(Float32Array)]);
  });

  it('clear() removes every key of the older epoch', async () => {
    const a = await open({ maxBytes: 8 * 1024 ** 2, remote: { url: server.url, prefix: 'sc' } });
    const texts = Array.from({ length: 200 }, (_, i) => textFor(i, 30));
    a.setMany(
      texts,
      texts.map((_, i) => vectorFor(i, 1, DIMS)),
    );
    await a.flush();
    expect(await keysOf(server, 'sc:{*')).toHaveLength(200);
    a.clear();
    await a.flush();
    expect(await until(async () => (await keysOf(server, 'sc:{*')).length === 0, 10_000)).toBe(true);
    // The fleet's bookkeeping stays.
    expect(await server.cli('EXISTS', 'sc:secret', 'sc:epoch')).toBe('2');
  });
});
