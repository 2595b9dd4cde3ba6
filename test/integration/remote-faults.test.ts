/**
 * Redis faults through the public API: unreachable at open, killed mid-run and restarted, slow,
 * full. None may throw out of a cache call: reads miss, writes are counted errors, the local
 * tiers go on serving, and the remote tier comes back by itself once Redis does. Each test runs
 * its own redis-server (test/support/redis.ts), stopped after it.
 */
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient } from 'redis';
import { afterEach, describe, expect, it } from 'vitest';
import { type EmbeddingCache, type RemoteStats } from '../../src/index.js';
import { useCaches } from '../support/caches.js';
import { textFor, vectorFor } from '../support/data.mjs';
import { expectBitExact } from '../support/expect.js';
import { startRedis, type RedisServer } from '../support/redis.js';

const DIMS = 8;

function remoteOf(c: EmbeddingCache): RemoteStats {
  const r = c.stats().remote;
  expect(r).toBeDefined();
  return r!;
}

/** A loopback port nothing listens on (bound by the OS, then closed). */
function deadPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen({ port: 0, host: '127.0.0.1' }, () => {
      const address = srv.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Polls `check` every 50 ms until it is true or `ms` pass; resolves to its last answer. */
async function eventually(check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > until) return false;
    await sleep(50);
  }
}

/** An embed function that records what it was asked, and answers vectorFor(1000 + call, i). */
function recorder(): { calls: string[][]; embed: (texts: string[]) => Float32Array[] } {
  const calls: string[][] = [];
  return {
    calls,
    embed: (texts) => {
      calls.push([...texts]);
      return texts.map((_, i) => vectorFor(1000 + calls.length, i, DIMS));
    },
  };
}

describe('remote tier: Redis faults never reach the caller', { timeout: 60_000 }, () => {
  const servers: RedisServer[] = [];
  // Registered before useCaches(): after-hooks run last-registered first, so the caches are
  // closed before their servers stop.
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.stop()));
  });
  const open = useCaches();
  async function redis(args?: string[]): Promise<RedisServer> {
    const s = await startRedis(args === undefined ? {} : { args });
    servers.push(s);
    return s;
  }

  it('Redis unreachable at open: the cache opens, serves locally, misses the rest, and reports down', async () => {
    const url = `redis://127.0.0.1:${await deadPort()}`;
    const started = Date.now();
    const cache = await open({ remote: { url, timeoutMs: 200 } });
    expect(Date.now() - started).toBeLessThan(3000);

    cache.set('local', vectorFor(1, 0, DIMS));
    expectBitExact(cache.get('local'), vectorFor(1, 0, DIMS));
    const got = await cache.fetchMany(['local', 'nowhere']);
    expectBitExact(got[0], vectorFor(1, 0, DIMS));
    expect(got[1]).toBeUndefined();

    const { calls, embed } = recorder();
    const computed = await cache.getOrCompute(['local', 'new text'], embed);
    expect(calls).toEqual([['new text']]);
    expectBitExact(computed[0], vectorFor(1, 0, DIMS));
    expectBitExact(computed[1], vectorFor(1001, 0, DIMS));
    expectBitExact(cache.get('new text'), vectorFor(1001, 0, DIMS));
    await cache.flush(); // resolves: the writes are given up, not waited for

    expect(await eventually(() => remoteOf(cache).state === 'down', 3000)).toBe(true);
    const r = remoteOf(cache);
    expect(r.errors).toBeGreaterThan(0);
    expect(r.hits).toBe(0);
    expect(r.writes).toBe(0);
  });

  it('calls refused while the breaker is open are counted as errors (stats().remote.errors)', async () => {
    // RemoteStats.errors: "Failed or timed-out calls, and calls refused while the breaker was
    // open". Every read and every write batch below is refused: each must count.
    const server = await redis();
    // (Errors before the kill are not checked: with timeoutMs 200 a loaded machine may time out
    // a call. What counts is the difference across the outage, below.)
    const cache = await open({ remote: { url: server.url, timeoutMs: 200 } });
    cache.set('before', vectorFor(1, 0, DIMS));
    await cache.flush();
    expect(remoteOf(cache)).toMatchObject({ writes: 1, state: 'up' });
    await server.kill();
    // Three failures open the breaker.
    for (let i = 0; i < 3 && remoteOf(cache).state === 'up'; i++) await cache.fetchMany([`probe ${i}`]);
    expect(await eventually(() => remoteOf(cache).state === 'down', 3000)).toBe(true);

    const before = remoteOf(cache).errors;
    for (let i = 0; i < 10; i++) {
      expect(await cache.fetchMany([`refused read ${i}`])).toEqual([undefined]);
      cache.set(`refused write ${i}`, vectorFor(i, 0, DIMS));
      await cache.flush();
    }
    const r = remoteOf(cache);
    expect(r.state).toBe('down');
    expect(r.writes).toBe(1);
    expect(r.errors - before).toBeGreaterThanOrEqual(20);
  });

  it.each([
    ['without remote.secret', undefined],
    ['with remote.secret', 'a-long-shared-secret-123'],
  ])(
    'Redis killed mid-run and restarted (%s): nothing throws, local tiers serve, the remote tier resumes',
    async (_label, secret) => {
      const server = await redis();
      const remote = { url: server.url, timeoutMs: 200, ...(secret !== undefined ? { secret } : {}) };
      const a = await open({ remote });
      const known = Array.from({ length: 50 }, (_, i) => textFor(i));
      a.setMany(
        known,
        known.map((_, i) => vectorFor(i, 0, DIMS)),
      );
      await a.flush();
      // (No errors: 0 here. With timeoutMs 200 a loaded machine can time a call out before the
      // kill; the outage below is what must count errors.)
      expect(remoteOf(a)).toMatchObject({ writes: 50 });

      // About 1 s of traffic; Redis is SIGKILLed 300 ms in.
      const { embed } = recorder();
      const killed = sleep(300).then(() => server.kill());
      const loopSets: string[] = [];
      const computed: string[] = [];
      const until = Date.now() + 1000;
      for (let i = 0; Date.now() < until; i++) {
        const fresh = `computed ${i}`;
        const r = await a.getOrCompute([known[i % 50]!, fresh], embed);
        expectBitExact(r[0], vectorFor(i % 50, 0, DIMS));
        expect(r[1]).toBeInstanceOf(Float32Array);
        computed.push(fresh);
        const f = await a.fetchMany([known[(i + 1) % 50]!, `never set ${i}`]);
        expectBitExact(f[0], vectorFor((i + 1) % 50, 0, DIMS));
        expect(f[1]).toBeUndefined();
        a.set(`loop ${i}`, vectorFor(100 + i, 0, DIMS));
        loopSets.push(`loop ${i}`);
        await sleep(5);
      }
      await killed;
      await a.flush();
      expect(server.running).toBe(false);
      // Everything set before or during the outage is served locally.
      for (let i = 0; i < 50; i++) expectBitExact(a.get(known[i]!), vectorFor(i, 0, DIMS));
      for (let i = 0; i < loopSets.length; i++)
        expectBitExact(a.get(loopSets[i]!), vectorFor(100 + i, 0, DIMS));
      for (const t of computed) expect(a.get(t)).toBeInstanceOf(Float32Array);
      expect(remoteOf(a).errors).toBeGreaterThan(0);

      await server.restart();
      // The restarted Redis is empty. Without remote.secret the fleet's key secret is gone too:
      // A's first write after the restart puts it back (README, Fleet: a cache that opened
      // before that would make a new one). So: first A writes again, then a fresh cache reads.
      const writesBefore = remoteOf(a).writes;
      let n = 0;
      expect(
        await eventually(async () => {
          a.set(`probe ${n++}`, vectorFor(400, 0, DIMS));
          await a.flush();
          return remoteOf(a).writes > writesBefore;
        }, 10_000),
        'A writes to the restarted Redis',
      ).toBe(true);
      // Within 10 s a set + flush in A is a fetchMany hit in a fresh cache.
      let probe = 0;
      const resumed = await eventually(async () => {
        const text = `after restart ${probe++}`;
        a.set(text, vectorFor(500 + probe, 0, DIMS));
        await a.flush();
        const b = await open({ remote: { url: server.url, ...(secret !== undefined ? { secret } : {}) } });
        try {
          const got = await b.fetchMany([text]);
          return got[0] !== undefined;
        } finally {
          await b.close();
        }
      }, 10_000);
      expect(resumed, 'a value A sets after the restart reaches a fresh cache').toBe(true);
      const r = remoteOf(a);
      expect(r.state).toBe('up');
      expect(r.errors).toBeGreaterThan(0);
      expect(r.writes).toBeGreaterThan(50);
    },
  );

  it('after a restart that lost Redis’s data, another cache’s invalidateModel still reaches A', async () => {
    // remote.secret: the key secret survives the restart, so only the generations are at stake.
    const server = await redis();
    const remote = { url: server.url, timeoutMs: 200, secret: 'a-long-shared-secret-123' };
    const a = await open({ remote });
    a.invalidateModel('m'); // the fleet's generation of m is g0 > 0, and A's view of it too
    await a.flush();
    const g0 = Number(await server.cli('HGET', 'embedcache:gens', 'm'));
    expect(g0).toBeGreaterThan(0);
    a.set('t', vectorFor(1, 0, DIMS), { model: 'm' });
    await a.flush();

    await server.kill();
    await server.restart(); // empty: no embedcache:gens any more
    const writes = remoteOf(a).writes;
    let n = 0;
    expect(
      await eventually(async () => {
        a.set(`probe ${n++}`, vectorFor(2, 0, DIMS));
        await a.flush();
        return remoteOf(a).writes > writes;
      }, 10_000),
      'A writes to the restarted Redis',
    ).toBe(true);
    // (A may already have dropped m here: finding Redis below its view, it bumps past it.)

    // B invalidates m; A must drop it (by pub/sub, or the periodic re-read), as without a restart:
    // generations never repeat (they count seconds), so B's bump cannot land on A's number.
    const b = await open({ remote });
    b.invalidateModel('m');
    await b.flush();
    expect(Number(await server.cli('HGET', 'embedcache:gens', 'm'))).toBeGreaterThanOrEqual(g0);
    expect(
      await eventually(() => a.get('t', { model: 'm' }) === undefined, 3000),
      'A drops model m after B’s invalidateModel',
    ).toBe(true);
  });

  it('slow Redis (DEBUG SLEEP 1): fetchMany with timeoutMs 100 resolves well under 1 s with misses', async () => {
    const server = await redis(['--enable-debug-command', 'yes']);
    const writer = await open({ remote: { url: server.url } });
    const texts = Array.from({ length: 20 }, (_, i) => textFor(i));
    writer.setMany(
      texts,
      texts.map((_, i) => vectorFor(i, 0, DIMS)),
    );
    await writer.flush();
    const reader = await open({ remote: { url: server.url, timeoutMs: 100 } });

    const admin = createClient({ url: server.url });
    admin.on('error', () => {});
    await admin.connect();
    const probe = admin.duplicate();
    probe.on('error', () => {});
    await probe.connect();
    const sleeping = admin.sendCommand(['DEBUG', 'SLEEP', '1']);
    // Asleep once a PING from another connection goes unanswered for 50 ms.
    let asleep = false;
    for (let i = 0; i < 20 && !asleep; i++)
      asleep = await Promise.race([probe.ping().then(() => false), sleep(50).then(() => true)]);
    expect(asleep).toBe(true);
    const started = Date.now();
    const got = await reader.fetchMany(texts);
    const took = Date.now() - started;
    expect(took).toBeLessThan(900);
    expect(got.every((v) => v === undefined)).toBe(true);
    expect(remoteOf(reader).errors).toBeGreaterThan(0);
    expect(await sleeping).toBe('OK');
    admin.destroy();
    probe.destroy();

    // Control: the values were there all along; read by a cache that waits long enough, they are hits.
    const patient = await open({ remote: { url: server.url, timeoutMs: 5000 } });
    const hit = await patient.fetchMany(texts);
    for (let i = 0; i < texts.length; i++) expectBitExact(hit[i], vectorFor(i, 0, DIMS));
  });

  it('full Redis (maxmemory 2mb, noeviction): 2,000 768-d sets do not throw, count errors, stay served locally', async () => {
    const server = await redis(['--maxmemory', '2mb', '--maxmemory-policy', 'noeviction']);
    const cache = await open({ remote: { url: server.url } });
    const n = 2000;
    const texts = Array.from({ length: n }, (_, i) => textFor(i));
    expect(() =>
      cache.setMany(
        texts,
        texts.map((_, i) => vectorFor(i, 0, 768)),
      ),
    ).not.toThrow();
    await expect(cache.flush()).resolves.toBeUndefined();
    const r = remoteOf(cache);
    expect(r.errors).toBeGreaterThan(0);
    expect(r.writes).toBeLessThan(n);
    for (let i = 0; i < n; i++) {
      const v = cache.get(texts[i]!);
      if (v === undefined) throw new Error(`text ${i} is not served locally`);
      if (i % 97 === 0) expectBitExact(v, vectorFor(i, 0, 768));
    }
    // Redis is full, not broken: it still answers reads.
    expect(await server.cli('PING')).toBe('PONG');
  });
});
