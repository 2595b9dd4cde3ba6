/**
 * embedcache/metrics through a real HTTP scrape: a cache does known traffic, a node:http server
 * serves a prom-client registry, the test fetches /metrics, parses the text exposition format
 * itself and checks every series against stats() and against the traffic:
 *
 * - each series means what the README's Metrics section says (hits/misses per tier, bytes,
 *   entries, writes, errors, getOrCompute's texts / embeds / saved);
 * - `_total` series are TYPE counter, the rest gauges; every family has HELP and TYPE once; no
 *   series appears twice; every sample carries the constant labels;
 * - spill series exist only with a spill tier, remote series only with a remote tier (a real
 *   redis-server);
 * - a closed cache exports `embedcache_up 0` and nothing else, and the scrape does not fail;
 *   unregister() removes every series;
 * - counters never go backwards: a snapshot that catches a derived counter half-updated, or a
 *   wrapped 32-bit counter word, does not show as a reset.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Gauge, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CacheStats, EmbeddingCache } from '../../src/index.js';
import { registerEmbedcacheMetrics, type MetricsRegistry } from '../../src/metrics/prometheus.js';
import { useCaches } from '../support/caches.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { tempDir } from '../support/temp.js';

const DIMS = 4;
const MODEL = 'toy';
const opts = { model: MODEL };
const vec = (i: number) => Float32Array.from({ length: DIMS }, (_, d) => i * 10 + d);

// ── the text exposition format ─────────────────────────────────────────────────────────────

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Exposition {
  help: Map<string, string>;
  type: Map<string, string>;
  samples: Sample[];
}

/** `a="x",b="y\"z"` → { a: 'x', b: 'y"z' } (escapes: \\ \" \n). */
function parseLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    if (eq < 0 || text[eq + 1] !== '"') throw new Error(`bad labels: ${text}`);
    const name = text.slice(i, eq).trim();
    if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name)) throw new Error(`bad label name ${name} in ${text}`);
    let value = '';
    let j = eq + 2;
    for (; j < text.length && text[j] !== '"'; j++) {
      if (text[j] === '\\') {
        const c = text[++j];
        value += c === 'n' ? '\n' : c;
      } else value += text[j];
    }
    if (j >= text.length) throw new Error(`unterminated label value in ${text}`);
    if (name in out) throw new Error(`label ${name} twice in ${text}`);
    out[name] = value;
    i = j + 1;
    if (text[i] === ',') i++;
    else if (i < text.length) throw new Error(`bad labels: ${text}`);
  }
  return out;
}

function parseExposition(text: string): Exposition {
  const help = new Map<string, string>();
  const type = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta !== null) {
      const [, kind, name, rest] = meta as unknown as [string, 'HELP' | 'TYPE', string, string];
      const map = kind === 'HELP' ? help : type;
      if (map.has(name)) throw new Error(`${kind} of ${name} twice`);
      if (kind === 'TYPE' && !['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(rest))
        throw new Error(`bad TYPE line: ${line}`);
      map.set(name, rest);
      continue;
    }
    if (line.startsWith('#')) continue; // a comment
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: -?\d+)?$/.exec(line);
    if (m === null) throw new Error(`bad sample line: ${line}`);
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    if (Number.isNaN(value) && m[3] !== 'NaN') throw new Error(`bad value: ${line}`);
    samples.push({ name: m[1]!, labels: m[2] === undefined ? {} : parseLabels(m[2]), value });
  }
  return { help, type, samples };
}

/** `name{a="1",b="2"}` with labels sorted: one key per series. */
function seriesKey(name: string, labels: Record<string, string>): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}=${JSON.stringify(labels[k])}`);
  return parts.length === 0 ? name : `${name}{${parts.join(',')}}`;
}

/** The samples as a map by series; throws on a series that appears twice. */
function seriesOf(exp: Exposition): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of exp.samples) {
    const key = seriesKey(s.name, s.labels);
    if (out.has(key)) throw new Error(`series ${key} twice`);
    out.set(key, s.value);
  }
  return out;
}

/** Every family has HELP and TYPE; `_total` ⇔ counter; every sample has its family's TYPE. */
function expectWellFormed(exp: Exposition): void {
  expect([...exp.help.keys()].sort()).toEqual([...exp.type.keys()].sort());
  for (const [name, type] of exp.type) {
    expect(type, name).toBe(name.endsWith('_total') ? 'counter' : 'gauge');
    expect(exp.help.get(name)!.length, name).toBeGreaterThan(0);
  }
  for (const s of exp.samples) expect(exp.type.has(s.name), s.name).toBe(true);
  seriesOf(exp); // no duplicates
}

// ── serving a registry ─────────────────────────────────────────────────────────────────────

interface Served {
  url: string;
  close(): Promise<void>;
}

async function serve(registry: MetricsRegistry): Promise<Served> {
  const server: Server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.statusCode = 404;
      res.end();
      return;
    }
    registry.metrics().then(
      (body) => {
        res.setHeader('Content-Type', registry.contentType);
        res.end(body);
      },
      (err: unknown) => {
        res.statusCode = 500;
        res.end(String(err));
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

async function scrape(served: Served, registry: MetricsRegistry): Promise<Exposition> {
  const res = await fetch(served.url);
  const body = await res.text();
  expect(res.status, body).toBe(200);
  expect(res.headers.get('content-type')).toBe(registry.contentType);
  const exp = parseExposition(body);
  expectWellFormed(exp);
  return exp;
}

/** The series of one cache's stats() as the README's Metrics section defines them. */
function expectedSeries(
  s: CacheStats,
  labels: Record<string, string>,
  p = 'embedcache_',
): Map<string, number> {
  const out = new Map<string, number>();
  const put = (name: string, value: number, extra: Record<string, string> = {}) =>
    out.set(seriesKey(p + name, { ...labels, ...extra }), value);
  const mem = { tier: 'memory' };
  const disk = { tier: 'disk' };
  const remote = { tier: 'remote' };
  put('up', 1);
  put('hits_total', s.hits - (s.spill?.hits ?? 0), mem);
  put('misses_total', s.misses + (s.spill?.hits ?? 0), mem);
  put('sets_total', s.sets);
  put('evictions_total', s.evictions);
  put('expirations_total', s.expirations);
  put('invalidations_total', s.invalidations);
  put('deletes_total', s.deletes);
  put('lock_takeovers_total', s.lockTakeovers);
  put('entries', s.entries, mem);
  if (s.maxEntries !== null) put('max_entries', s.maxEntries, mem);
  put('bytes', s.memoryBytes, mem);
  put('max_bytes', s.maxBytes, mem);
  put('compute_texts_total', s.compute.texts);
  put('embeds_total', s.compute.embedded);
  put('embeds_saved_total', s.compute.saved);
  if (s.spill) {
    put('hits_total', s.spill.hits, disk);
    put('misses_total', s.spill.misses, disk);
    put('entries', s.spill.entries, disk);
    put('bytes', s.spill.bytes, disk);
    put('writes_total', s.spill.writes, disk);
    put('errors_total', s.spill.errors, disk);
    put('spill_superseded_total', s.spill.superseded);
  }
  if (s.remote) {
    put('hits_total', s.remote.hits, remote);
    put('misses_total', s.remote.misses, remote);
    put('writes_total', s.remote.writes, remote);
    put('errors_total', s.remote.errors, remote);
    put('remote_lease_waits_total', s.remote.leaseWaits);
    put('remote_invalid_total', s.remote.invalid);
    for (const state of ['up', 'down', 'off'])
      put('remote_state', s.remote.state === state ? 1 : 0, { state });
  }
  return out;
}

/** The series of `all` whose labels include `labels`. */
function withLabels(all: Map<string, number>, exp: Exposition, labels: Record<string, string>) {
  const out = new Map<string, number>();
  for (const s of exp.samples) {
    if (Object.entries(labels).every(([k, v]) => s.labels[k] === v)) {
      const key = seriesKey(s.name, s.labels);
      out.set(key, all.get(key)!);
    }
  }
  return out;
}

const get = (m: Map<string, number>, name: string, labels: Record<string, string>) =>
  m.get(seriesKey(`embedcache_${name}`, labels));

// ── tests ──────────────────────────────────────────────────────────────────────────────────

describe('embedcache/metrics: a prom-client registry scraped over HTTP', () => {
  const open = useCaches();

  it('memory + disk tiers: known traffic, every series exact against stats()', async () => {
    const path = tempDir();
    // Three entries on disk only: written by a first cache, then read by a fresh one.
    const first = await open({ spill: { path, persist: true } });
    first.setMany(['a', 'b', 'c'], [vec(1), vec(2), vec(3)], opts);
    await first.close();

    const cache = await open({ maxEntries: 1000, spill: { path, persist: true } });
    expect(cache.get('a', opts)).toEqual(vec(1)); // disk hit, promoted
    expect(cache.get('a', opts)).toEqual(vec(1)); // memory hit
    expect(cache.get('b', opts)).toEqual(vec(2)); // disk hit
    expect(cache.get('zz', opts)).toBeUndefined(); // missed by memory and disk
    cache.set('d', vec(4), opts);
    expect(cache.get('d', opts)).toEqual(vec(4)); // memory hit
    let embedded: string[] = [];
    const embed = (texts: string[]) => {
      embedded = embedded.concat(texts);
      return texts.map((_, i) => vec(100 + i));
    };
    // a, d: memory hits; x, y, x: missed by both; x and y embedded once each.
    await cache.getOrCompute(['a', 'x', 'y', 'x', 'd'], embed, opts);
    expect(embedded.sort()).toEqual(['x', 'y']);
    await cache.flush();

    const registry = new Registry();
    const labels = { cache: 'docs', env: 'test "q"\\' }; // a value that needs escaping
    const metrics = registerEmbedcacheMetrics(cache, { registry, labels });
    const served = await serve(registry);
    try {
      const before = cache.stats();
      const exp = await scrape(served, registry);
      expect(cache.stats()).toEqual(before); // a scrape counts nothing
      const got = seriesOf(exp);

      expect(got).toEqual(expectedSeries(before, labels)); // exactly these series, these values
      for (const s of exp.samples) expect(s.labels).toMatchObject(labels);

      // The traffic above, series by series.
      const l = (extra: Record<string, string> = {}) => ({ ...labels, ...extra });
      expect(get(got, 'up', l())).toBe(1);
      expect(get(got, 'hits_total', l({ tier: 'memory' }))).toBe(4); // a, d, a (goc), d (goc)
      expect(get(got, 'hits_total', l({ tier: 'disk' }))).toBe(2); // a, b
      expect(get(got, 'misses_total', l({ tier: 'memory' }))).toBe(6); // a, b, zz, x, y, x went past memory
      expect(get(got, 'misses_total', l({ tier: 'disk' }))).toBe(4); // zz, x, y, x
      expect(before.hits).toBe(6);
      expect(before.misses).toBe(4);
      expect(get(got, 'sets_total', l())).toBe(3); // d, x, y (promotions are not sets)
      expect(get(got, 'compute_texts_total', l())).toBe(5);
      expect(get(got, 'embeds_total', l())).toBe(2);
      expect(get(got, 'embeds_saved_total', l())).toBe(3);
      expect(get(got, 'entries', l({ tier: 'memory' }))).toBe(5); // a, b, d, x, y
      expect(get(got, 'max_entries', l({ tier: 'memory' }))).toBe(1000);
      expect(get(got, 'entries', l({ tier: 'disk' }))).toBe(6); // a, b, c, d, x, y
      expect(get(got, 'writes_total', l({ tier: 'disk' }))).toBe(3); // persist: d, x, y
      expect(get(got, 'errors_total', l({ tier: 'disk' }))).toBe(0);
      expect(get(got, 'bytes', l({ tier: 'memory' }))).toBe(before.memoryBytes);
      expect(get(got, 'bytes', l({ tier: 'disk' }))).toBeGreaterThan(0);
      expect(get(got, 'max_bytes', l({ tier: 'memory' }))).toBe(before.maxBytes);
      expect([...exp.type.keys()].some((n) => n.startsWith('embedcache_remote_'))).toBe(false);

      // More traffic shows on the next scrape.
      expect(cache.delete('a', opts)).toBe(true);
      cache.get('nope', opts);
      await cache.flush(); // the tombstone's write lands before the scrape
      const again = seriesOf(await scrape(served, registry));
      expect(again).toEqual(expectedSeries(cache.stats(), labels));
      expect(get(again, 'deletes_total', l())).toBe(1);
      expect(get(again, 'misses_total', l({ tier: 'disk' }))).toBe(5);

      metrics.unregister();
      const gone = await scrape(served, registry);
      expect(gone.samples).toEqual([]);
      expect(gone.type.size).toBe(0);
      expect(registry.getMetricsAsArray()).toEqual([]);
      metrics.unregister(); // idempotent
    } finally {
      await served.close();
    }
  });

  it('spill series only with a spill tier; caches share a registry by their labels', async () => {
    const plain = await open({ maxBytes: 16 * 1024 ** 2 });
    const spilled = await open({ spill: { path: tempDir() } });
    plain.set('p', vec(1), opts);
    plain.get('p', opts);
    spilled.set('s', vec(2), opts);

    // A registry with only the memory-only cache: no disk, spill or remote series at all.
    const alone = new Registry();
    const m1 = registerEmbedcacheMetrics(plain, { registry: alone });
    const served1 = await serve(alone);
    try {
      const exp = await scrape(served1, alone);
      expect(seriesOf(exp)).toEqual(expectedSeries(plain.stats(), {}));
      const names = [...exp.type.keys()];
      expect(names).not.toContain('embedcache_writes_total');
      expect(names).not.toContain('embedcache_errors_total');
      expect(names).not.toContain('embedcache_spill_superseded_total');
      expect(exp.samples.some((s) => s.labels.tier === 'disk')).toBe(false);
      expect(names).not.toContain('embedcache_max_entries'); // no maxEntries bound
    } finally {
      m1.unregister();
      await served1.close();
    }

    // One registry, two caches told apart by a label; a custom prefix.
    const shared = new Registry();
    const prefix = 'app_cache_';
    const a = registerEmbedcacheMetrics(plain, { registry: shared, prefix, labels: { cache: 'plain' } });
    const b = registerEmbedcacheMetrics(spilled, { registry: shared, prefix, labels: { cache: 'spilled' } });
    const served = await serve(shared);
    try {
      const exp = await scrape(served, shared);
      const got = seriesOf(exp);
      const want = new Map([
        ...expectedSeries(plain.stats(), { cache: 'plain' }, prefix),
        ...expectedSeries(spilled.stats(), { cache: 'spilled' }, prefix),
      ]);
      expect(got).toEqual(want);
      expect(withLabels(got, exp, { cache: 'plain' })).toEqual(
        expectedSeries(plain.stats(), { cache: 'plain' }, prefix),
      );
      expect(exp.type.get('app_cache_spill_superseded_total')).toBe('counter');
      expect(
        exp.samples.filter((s) => s.labels.tier === 'disk').every((s) => s.labels.cache === 'spilled'),
      ).toBe(true);

      // The same labels twice, other label names, or a name taken by someone else: refused.
      expect(() =>
        registerEmbedcacheMetrics(plain, { registry: shared, prefix, labels: { cache: 'plain' } }),
      ).toThrow(/already registered/);
      expect(() =>
        registerEmbedcacheMetrics(plain, { registry: shared, prefix, labels: { other: 'x' } }),
      ).toThrow(/same label names/);
      expect(() => registerEmbedcacheMetrics(plain, { registry: shared, labels: { tier: 'x' } })).toThrow(
        TypeError,
      );
      expect(() => registerEmbedcacheMetrics(plain, { registry: shared, prefix: '9bad' })).toThrow(TypeError);

      // The spill cache leaves: its disk-only families go, the other cache's series stay.
      b.unregister();
      const after = await scrape(served, shared);
      expect(seriesOf(after)).toEqual(expectedSeries(plain.stats(), { cache: 'plain' }, prefix));
      expect(after.type.has('app_cache_spill_superseded_total')).toBe(false);
      a.unregister();
      expect((await scrape(served, shared)).samples).toEqual([]);
    } finally {
      a.unregister();
      b.unregister();
      await served.close();
    }

    // A metric of that name that embedcache did not create: refused, nothing half-registered.
    const taken = new Registry();
    new Gauge({ name: 'embedcache_entries', help: 'mine', registers: [taken] });
    expect(() => registerEmbedcacheMetrics(plain, { registry: taken })).toThrow(/did not register/);
    expect(taken.getMetricsAsArray()).toHaveLength(1);
  });

  it('a closed cache exports embedcache_up 0 and nothing else; the scrape does not fail', async () => {
    const cache = await open({ spill: { path: tempDir() } });
    const other = await open();
    cache.set('a', vec(1), opts);
    const registry = new Registry();
    const m = registerEmbedcacheMetrics(cache, { registry, labels: { cache: 'closing' } });
    const m2 = registerEmbedcacheMetrics(other, { registry, labels: { cache: 'open' } });
    const served = await serve(registry);
    try {
      await cache.close();
      const exp = await scrape(served, registry);
      const closing = exp.samples.filter((s) => s.labels.cache === 'closing');
      expect(closing).toEqual([{ name: 'embedcache_up', labels: { cache: 'closing' }, value: 0 }]);
      expect(withLabels(seriesOf(exp), exp, { cache: 'open' })).toEqual(
        expectedSeries(other.stats(), { cache: 'open' }),
      );
      m.unregister();
      m2.unregister();
      expect((await scrape(served, registry)).samples).toEqual([]);
      // Registering a closed cache is a mistake the caller hears about.
      expect(() => registerEmbedcacheMetrics(cache, { registry })).toThrow(/close/);
    } finally {
      await served.close();
    }
  });
});

describe('embedcache/metrics: counters from snapshots', () => {
  /** A source whose stats() the test writes. */
  function fakeSource() {
    const s: CacheStats = {
      entries: 0,
      hits: 0,
      misses: 0,
      hitRate: 0,
      sets: 0,
      evictions: 0,
      expirations: 0,
      invalidations: 0,
      deletes: 0,
      memoryBytes: 1024,
      maxBytes: 4096,
      maxEntries: null,
      lockTakeovers: 0,
      spill: { entries: 0, bytes: 0, writes: 0, hits: 0, misses: 0, errors: 0, superseded: 0 },
      compute: { texts: 0, embedded: 0, saved: 0 },
    };
    let calls = 0;
    return {
      s,
      calls: () => calls,
      source: {
        stats(): CacheStats {
          calls++;
          return structuredClone(s);
        },
      },
    };
  }

  async function values(registry: Registry): Promise<Map<string, number>> {
    const exp = parseExposition(await registry.metrics());
    expectWellFormed(exp);
    return seriesOf(exp);
  }

  it('one stats() per scrape; a half-updated snapshot or a wrapped word never reads as a reset', async () => {
    const fake = fakeSource();
    const registry = new Registry();
    const m = registerEmbedcacheMetrics(fake.source, { registry });
    const memHits = (v: Map<string, number>) => get(v, 'hits_total', { tier: 'memory' });
    const saved = (v: Map<string, number>) => get(v, 'embeds_saved_total', {});

    fake.s.hits = 10;
    fake.s.spill!.hits = 2;
    fake.s.compute = { texts: 10, embedded: 0, saved: 10 }; // 10 texts in flight, not yet embedded
    const calls = fake.calls();
    let v = await values(registry);
    expect(fake.calls() - calls).toBe(1); // every series of a scrape from one snapshot
    expect(memHits(v)).toBe(8);
    expect(saved(v)).toBe(10);

    // A scrape between a disk hit's two increments (spill.hits first, then hits): 10 − 5 = 5.
    fake.s.spill!.hits = 5;
    fake.s.compute = { texts: 10, embedded: 10, saved: 0 }; // the 10 were embedded after all
    v = await values(registry);
    expect(memHits(v)).toBe(8); // held, not a drop to 5
    expect(saved(v)).toBe(10); // held
    fake.s.hits = 14; // the three disk hits land, and one memory hit: true memory hits 9
    fake.s.compute = { texts: 30, embedded: 10, saved: 20 };
    v = await values(registry);
    expect(memHits(v)).toBe(9);
    expect(saved(v)).toBe(20); // exact again once the true value passes the held one

    // Gauges are the snapshot's, up and down.
    fake.s.entries = 7;
    expect(get(await values(registry), 'entries', { tier: 'memory' })).toBe(7);
    fake.s.entries = 3;
    expect(get(await values(registry), 'entries', { tier: 'memory' })).toBe(3);
    m.unregister();

    // A counter word wraps (each thread's row is 32 bits): the sum drops by 2^32.
    const wrapping = fakeSource();
    wrapping.s.sets = 2 ** 32 - 3;
    const wrapRegistry = new Registry();
    const w = registerEmbedcacheMetrics(wrapping.source, { registry: wrapRegistry });
    expect(get(await values(wrapRegistry), 'sets_total', {})).toBe(2 ** 32 - 3);
    wrapping.s.sets = 2; // 5 more sets
    expect(get(await values(wrapRegistry), 'sets_total', {})).toBe(2 ** 32 + 2);
    w.unregister();
  });
});

describe('embedcache/metrics: the remote tier', { timeout: 60_000 }, () => {
  let server: RedisServer;
  const open = useCaches();

  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('remote hits, misses, writes and state; exact against stats()', async () => {
    const writer: EmbeddingCache = await open({ remote: { url: server.url, prefix: 'metrics' } });
    const reader: EmbeddingCache = await open({ remote: { url: server.url, prefix: 'metrics' } });
    const embed = (texts: string[]) => texts.map((_, i) => vec(i + 1));
    await writer.getOrCompute(['r1', 'r2'], embed, opts); // 2 values written to Redis
    await writer.flush();
    const got = await reader.fetchMany(['r1', 'r2', 'r3'], opts); // 2 remote hits, 1 remote miss
    expect(got.map((v) => v !== undefined)).toEqual([true, true, false]);

    const registry = new Registry();
    const mw = registerEmbedcacheMetrics(writer, { registry, labels: { machine: 'w' } });
    const mr = registerEmbedcacheMetrics(reader, { registry, labels: { machine: 'r' } });
    const served = await serve(registry);
    try {
      const exp = await scrape(served, registry);
      const all = seriesOf(exp);
      expect(all).toEqual(
        new Map([
          ...expectedSeries(writer.stats(), { machine: 'w' }),
          ...expectedSeries(reader.stats(), { machine: 'r' }),
        ]),
      );
      expect(get(all, 'writes_total', { machine: 'w', tier: 'remote' })).toBe(2);
      expect(get(all, 'hits_total', { machine: 'r', tier: 'remote' })).toBe(2);
      expect(get(all, 'misses_total', { machine: 'r', tier: 'remote' })).toBe(1);
      expect(get(all, 'misses_total', { machine: 'r', tier: 'memory' })).toBe(3);
      expect(get(all, 'remote_state', { machine: 'r', state: 'up' })).toBe(1);
      expect(get(all, 'remote_state', { machine: 'r', state: 'down' })).toBe(0);
      expect(get(all, 'remote_state', { machine: 'r', state: 'off' })).toBe(0);
      expect(get(all, 'remote_lease_waits_total', { machine: 'r' })).toBe(0);
      expect(get(all, 'remote_invalid_total', { machine: 'r' })).toBe(0);
      expect(exp.type.get('embedcache_remote_lease_waits_total')).toBe('counter');
      expect(exp.type.get('embedcache_remote_state')).toBe('gauge');
      // No spill tier here: no disk series.
      expect(exp.samples.some((s) => s.labels.tier === 'disk')).toBe(false);
      expect(exp.type.has('embedcache_spill_superseded_total')).toBe(false);
    } finally {
      mw.unregister();
      mr.unregister();
      await served.close();
    }
  });
});
