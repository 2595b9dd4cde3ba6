/**
 * bench:fleet's peers section: batch reads from one Redis, and what an entry costs there, for
 *
 *   embedcache     the remote tier: one MGET per batch, raw float32 values with a small header
 *                  (src/remote/format.ts). fetchMany of 1,000 texts from a cache whose memory is
 *                  cold (a fresh cache per run, so every read goes to Redis); also getOrCompute
 *                  of the same batches (all hits in Redis, embed never called).
 *   LangChain      CacheBackedEmbeddings.fromBytesStore(underlying, RedisByteStore, { namespace })
 *                  (@langchain/classic + @langchain/community's ioredis store): embedDocuments of
 *                  1,000 texts whose vectors are all cached (underlying never called). Keys are
 *                  namespace + sha256(text); values are the vector as JSON.
 *   RedisVL-style  one HASH per entry, as RedisVL's EmbeddingsCache lays it out: entry_id, text,
 *                  model_name, embedding (a JSON string), inserted_at, updated_at, metadata;
 *                  read with pipelined HGETALL (the whole entry), or HGET of the embedding only.
 *
 * All three hold the same float32 vectors (JSON with 9 significant digits, which round-trips a
 * float32: model.ts apiFloats). Reads are measured in interleaved rounds (every system once per
 * round, rotated order; the first round is a warm-up and dropped) and the median round is
 * quoted, so load drifting on a shared machine hits every system alike. Bytes per entry: MEMORY
 * USAGE (SAMPLES 0) averaged over a sample of each system's keys, and INFO used_memory growth
 * over the whole set divided by the entries.
 */
import { createHash } from 'node:crypto';
import { createClient } from 'redis';
import type { EmbeddingCache as Cache } from '../../src/index.js';
import { median } from '../lib/results.js';
import { bytesFor } from '../lib/sizing.js';
import { apiFloats, corpusText, fakeVector, sameVector } from './model.js';

type Lib = typeof import('../../src/index.js');
type Admin = ReturnType<typeof createClient>;

export const PEER_SEED = 0x9ee25;
const MODEL = 'peer-bench-model';
const EC_PREFIX = 'peers-ec';
const LC_NAMESPACE = 'peers-lc:';
const RVL_PREFIX = 'peers-rvl:embedcache:';

export interface PeerConfig {
  url: string;
  entries: number;
  batch: number;
  dims: number;
  /** Measured rounds (one more is run first, as a warm-up). */
  rounds: number;
  /** Keys MEMORY USAGE is averaged over, per system. */
  sample: number;
}

export type PeerSystem =
  'embedcache' | 'embedcache-lived' | 'embedcache-goc' | 'langchain' | 'rvl-hgetall' | 'rvl-hget';

export interface PeerRow {
  system: PeerSystem;
  label: string;
  /** Median over the measured rounds of keys read / seconds, whole set in `batch`-key batches. */
  keysPerSec: number;
  rounds: number[];
  /** MEMORY USAGE key SAMPLES 0, mean over the sample. */
  bytesPerEntry: number;
  /** INFO used_memory growth while the set was written, / entries. */
  usedMemoryPerEntry: number;
  /** What a value looks like (for the notes). */
  valueBytes: number;
}

const LABELS: Record<PeerSystem, string> = {
  embedcache: 'embedcache fetchMany, new cache per round',
  'embedcache-lived': 'embedcache fetchMany, long-lived cache, keys not in memory',
  'embedcache-goc': 'embedcache getOrCompute, new cache per round (all hits in Redis)',
  langchain: 'LangChain CacheBackedEmbeddings + RedisByteStore',
  'rvl-hgetall': 'RedisVL-style HASH, pipelined HGETALL',
  'rvl-hget': 'RedisVL-style HASH, pipelined HGET embedding',
};

async function usedMemory(admin: Admin): Promise<number> {
  const info = String(await admin.sendCommand(['INFO', 'memory']));
  const m = /^used_memory:(\d+)/m.exec(info);
  if (!m) throw new Error('INFO memory has no used_memory');
  return Number(m[1]);
}

/** Up to `n` keys matching `pattern` (SCAN). */
async function sampleKeys(admin: Admin, pattern: string, n: number): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = (await admin.sendCommand(['SCAN', cursor, 'MATCH', pattern, 'COUNT', '1000'])) as [
      string,
      string[],
    ];
    cursor = String(next);
    for (const k of keys) if (out.length < n) out.push(String(k));
  } while (cursor !== '0' && out.length < n);
  return out;
}

async function memoryUsage(admin: Admin, keys: readonly string[]): Promise<number> {
  if (keys.length === 0) return Number.NaN;
  const sizes = await Promise.all(
    keys.map((k) => admin.sendCommand(['MEMORY', 'USAGE', k, 'SAMPLES', '0']) as Promise<number>),
  );
  return sizes.reduce((s, x) => s + Number(x), 0) / keys.length;
}

/** Calls `populate`, returning INFO used_memory growth per entry across it. */
async function measureGrowth(admin: Admin, entries: number, populate: () => Promise<void>): Promise<number> {
  const before = await usedMemory(admin);
  await populate();
  return ((await usedMemory(admin)) - before) / entries;
}

function batchesOf<T>(xs: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

interface Contender {
  system: PeerSystem;
  /** Reads every batch once; returns keys read and seconds (set-up excluded). */
  run(): Promise<{ keys: number; seconds: number }>;
  bytesPerEntry: number;
  usedMemoryPerEntry: number;
  valueBytes: number;
}

export interface PeerResult {
  rows: PeerRow[];
  notes: string[];
}

export async function runPeers(cfg: PeerConfig, lib: Lib, log: (s: string) => void): Promise<PeerResult> {
  const notes: string[] = [];
  // LangChain is a devDependency; loaded here so the fleet section runs without it.
  let lc: {
    CacheBackedEmbeddings: typeof import('@langchain/classic/embeddings/cache_backed').CacheBackedEmbeddings;
    RedisByteStore: typeof import('@langchain/community/storage/ioredis').RedisByteStore;
    Embeddings: typeof import('@langchain/core/embeddings').Embeddings;
    Redis: typeof import('ioredis').Redis;
  };
  try {
    const [cb, store, core, ioredis] = await Promise.all([
      import('@langchain/classic/embeddings/cache_backed'),
      import('@langchain/community/storage/ioredis'),
      import('@langchain/core/embeddings'),
      import('ioredis'),
    ]);
    lc = {
      CacheBackedEmbeddings: cb.CacheBackedEmbeddings,
      RedisByteStore: store.RedisByteStore,
      Embeddings: core.Embeddings,
      Redis: ioredis.Redis,
    };
  } catch (err) {
    throw new Error(
      `the peers section needs the devDependencies @langchain/classic, @langchain/community and ioredis (npm install): ${(err as Error).message}`,
    );
  }

  const { url, entries, dims } = cfg;
  const texts = Array.from({ length: entries }, (_, i) => corpusText(i, PEER_SEED));
  const vectors = texts.map((t) => fakeVector(t, dims));
  const batches = batchesOf(texts, cfg.batch);
  const admin: Admin = createClient({ url });
  admin.on('error', () => {});
  await admin.connect();
  const cacheOptions = {
    maxBytes: bytesFor(entries + 64, dims),
    expectedEntries: entries + 64,
    remote: { url, prefix: EC_PREFIX },
  };
  const closers: (() => Promise<unknown>)[] = [() => admin.close()];
  try {
    await admin.sendCommand(['FLUSHALL']);
    const contenders: Contender[] = [];

    // ── embedcache ───────────────────────────────────────────────────────────────────────
    log(`  peers: writing ${entries.toLocaleString('en-US')} entries of each system…`);
    const writer = await lib.EmbeddingCache.open(cacheOptions);
    const ecGrowth = await measureGrowth(admin, entries, async () => {
      for (let i = 0; i < entries; i += cfg.batch)
        writer.setMany(texts.slice(i, i + cfg.batch), vectors.slice(i, i + cfg.batch), { model: MODEL });
      await writer.flush();
    });
    const wrote = writer.stats().remote!;
    await writer.close();
    if (wrote.writes !== entries) {
      throw new Error(
        `embedcache: Redis took ${wrote.writes} of ${entries} writes (errors ${wrote.errors}); raise remote.timeoutMs or check the server`,
      );
    }
    const ecKeys = await sampleKeys(admin, `${EC_PREFIX}:{*}:*`, cfg.sample);
    const ecBytes = await memoryUsage(admin, ecKeys);
    const ecValue = ecKeys.length > 0 ? Number(await admin.sendCommand(['STRLEN', ecKeys[0]!])) : Number.NaN;
    const freshCache = async (): Promise<Cache> => lib.EmbeddingCache.open(cacheOptions);
    const ecCheck = async (c: Cache): Promise<void> => {
      const got = await c.fetchMany(texts.slice(0, 8), { model: MODEL });
      got.forEach((v, i) => {
        if (v === undefined || !sameVector(v, vectors[i]!))
          throw new Error(`embedcache: wrong vector for text ${i}`);
      });
    };
    {
      const c = await freshCache();
      await ecCheck(c);
      await c.close();
    }
    contenders.push({
      system: 'embedcache',
      bytesPerEntry: ecBytes,
      usedMemoryPerEntry: ecGrowth,
      valueBytes: ecValue,
      async run() {
        const c = await freshCache(); // cold memory: every batch read goes to Redis
        try {
          let missing = 0;
          const t0 = process.hrtime.bigint();
          for (const b of batches) {
            const got = await c.fetchMany(b, { model: MODEL });
            for (const v of got) if (v === undefined) missing++;
          }
          const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
          if (missing > 0) throw new Error(`embedcache fetchMany: ${missing} of ${entries} missed`);
          return { keys: entries, seconds };
        } finally {
          await c.close();
        }
      },
    });
    // A cache that has been running a while: its memory (room for one batch) is full of other
    // entries, so each batch read goes to Redis and its adoption evicts the previous batch into
    // pages already in use. The new-cache row above also pays the first touch of every page.
    let lived: Cache | null = null;
    closers.push(async () => lived?.close());
    contenders.push({
      system: 'embedcache-lived',
      bytesPerEntry: ecBytes,
      usedMemoryPerEntry: ecGrowth,
      valueBytes: ecValue,
      async run() {
        lived ??= await lib.EmbeddingCache.open({
          maxEntries: cfg.batch,
          maxBytes: bytesFor(2 * cfg.batch + 64, dims),
          expectedEntries: 2 * cfg.batch + 64,
          remote: { url, prefix: EC_PREFIX },
        });
        const c = lived;
        const before = c.stats().remote!.hits;
        const t0 = process.hrtime.bigint();
        for (const b of batches) await c.fetchMany(b, { model: MODEL });
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        const hits = c.stats().remote!.hits - before;
        if (hits !== entries)
          throw new Error(
            `embedcache long-lived: ${hits} of ${entries} reads were Redis hits (need --peer-entries ≥ 2 × --peer-batch)`,
          );
        return { keys: entries, seconds };
      },
    });
    let gocEmbeds = 0;
    const gocEmbed = (missing: string[]): Float32Array[] => {
      gocEmbeds += missing.length;
      return missing.map((t) => fakeVector(t, dims));
    };
    contenders.push({
      system: 'embedcache-goc',
      bytesPerEntry: ecBytes,
      usedMemoryPerEntry: ecGrowth,
      valueBytes: ecValue,
      async run() {
        const c = await freshCache();
        try {
          const t0 = process.hrtime.bigint();
          for (const b of batches) await c.getOrCompute(b, gocEmbed, { model: MODEL });
          const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
          if (gocEmbeds > 0) throw new Error(`embedcache getOrCompute embedded ${gocEmbeds} texts`);
          return { keys: entries, seconds };
        } finally {
          await c.close();
        }
      },
    });

    // ── LangChain ────────────────────────────────────────────────────────────────────────
    class StandIn extends lc.Embeddings {
      calls = 0;
      constructor() {
        super({});
      }
      async embedDocuments(documents: string[]): Promise<number[][]> {
        this.calls++;
        return documents.map((t) => apiFloats(fakeVector(t, dims)));
      }
      async embedQuery(document: string): Promise<number[]> {
        return apiFloats(fakeVector(document, dims));
      }
    }
    const ioredis = new lc.Redis(url, { lazyConnect: false });
    ioredis.on('error', () => {});
    closers.push(() => ioredis.quit());
    const underlying = new StandIn();
    const store = new lc.RedisByteStore({ client: ioredis });
    const cbe = lc.CacheBackedEmbeddings.fromBytesStore(underlying, store, { namespace: LC_NAMESPACE });
    const lcGrowth = await measureGrowth(admin, entries, async () => {
      for (const b of batches) await cbe.embedDocuments(b);
    });
    const lcKeys = await sampleKeys(admin, `${LC_NAMESPACE}*`, cfg.sample);
    const lcBytes = await memoryUsage(admin, lcKeys);
    const lcValue = lcKeys.length > 0 ? Number(await admin.sendCommand(['STRLEN', lcKeys[0]!])) : Number.NaN;
    {
      underlying.calls = 0;
      const got = await cbe.embedDocuments(texts.slice(0, 8));
      got.forEach((v, i) => {
        if (!sameVector(v, vectors[i]!)) throw new Error(`LangChain: wrong vector for text ${i}`);
      });
      if (underlying.calls !== 0) throw new Error('LangChain: cached texts reached the underlying model');
    }
    contenders.push({
      system: 'langchain',
      bytesPerEntry: lcBytes,
      usedMemoryPerEntry: lcGrowth,
      valueBytes: lcValue,
      async run() {
        underlying.calls = 0;
        const t0 = process.hrtime.bigint();
        for (const b of batches) {
          const got = await cbe.embedDocuments(b);
          if (got.length !== b.length) throw new Error('LangChain: wrong count');
        }
        const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
        if (underlying.calls !== 0)
          throw new Error(`LangChain: the underlying model was called ${underlying.calls} times`);
        return { keys: entries, seconds };
      },
    });

    // ── RedisVL-style HASH ───────────────────────────────────────────────────────────────
    const rvl: Admin = createClient({ url });
    rvl.on('error', () => {});
    await rvl.connect();
    closers.push(() => rvl.close());
    const rvlKey = (text: string): string =>
      RVL_PREFIX + createHash('sha256').update(`${text}:${MODEL}`).digest('hex');
    const rvlGrowth = await measureGrowth(admin, entries, async () => {
      for (let i = 0; i < entries; i += cfg.batch) {
        const now = String(Date.now() / 1000);
        await Promise.all(
          texts.slice(i, i + cfg.batch).map((t, k) => {
            const key = rvlKey(t);
            return rvl.hSet(key, {
              entry_id: key.slice(RVL_PREFIX.length),
              text: t,
              model_name: MODEL,
              embedding: JSON.stringify(apiFloats(vectors[i + k]!)),
              inserted_at: now,
              updated_at: now,
              metadata: '{}',
            });
          }),
        );
      }
    });
    const rvlKeys = await sampleKeys(admin, `${RVL_PREFIX}*`, cfg.sample);
    const rvlBytes = await memoryUsage(admin, rvlKeys);
    const rvlValue =
      rvlKeys.length > 0
        ? Number(await admin.sendCommand(['HSTRLEN', rvlKeys[0]!, 'embedding']))
        : Number.NaN;
    {
      const got = await Promise.all(texts.slice(0, 8).map((t) => rvl.hGet(rvlKey(t), 'embedding')));
      got.forEach((s, i) => {
        if (s === null || !sameVector(JSON.parse(String(s)) as number[], vectors[i]!))
          throw new Error(`RedisVL-style: wrong vector for text ${i}`);
      });
    }
    const rvlRun = (whole: boolean) => async () => {
      let missing = 0;
      const t0 = process.hrtime.bigint();
      for (const b of batches) {
        const keys = b.map(rvlKey);
        if (whole) {
          const got = await Promise.all(keys.map((k) => rvl.hGetAll(k)));
          for (const h of got) {
            const e = (h as Record<string, string>).embedding;
            if (e === undefined) missing++;
            else JSON.parse(e);
          }
        } else {
          const got = await Promise.all(keys.map((k) => rvl.hGet(k, 'embedding')));
          for (const e of got) {
            if (e === null) missing++;
            else JSON.parse(String(e));
          }
        }
      }
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (missing > 0) throw new Error(`RedisVL-style: ${missing} of ${entries} missed`);
      return { keys: entries, seconds };
    };
    for (const [system, whole] of [
      ['rvl-hgetall', true],
      ['rvl-hget', false],
    ] as const) {
      contenders.push({
        system,
        bytesPerEntry: rvlBytes,
        usedMemoryPerEntry: rvlGrowth,
        valueBytes: rvlValue,
        run: rvlRun(whole),
      });
    }

    // ── interleaved rounds ───────────────────────────────────────────────────────────────
    const perRound = new Map<PeerSystem, number[]>(contenders.map((c) => [c.system, []]));
    for (let r = 0; r <= cfg.rounds; r++) {
      log(`  peers: round ${r === 0 ? 'warm-up' : `${r}/${cfg.rounds}`}…`);
      for (let k = 0; k < contenders.length; k++) {
        const c = contenders[(k + r) % contenders.length]!;
        const { keys, seconds } = await c.run();
        if (r > 0) perRound.get(c.system)!.push(keys / seconds);
      }
    }
    notes.push(
      `Each system holds ${entries} entries of ${dims}-d vectors in one redis-server; a round reads all of them in batches of ${cfg.batch} keys; keys/s is the median of ${cfg.rounds} rounds after a warm-up round.`,
      `Value bytes: embedcache ${ecValue} (float32 + header), LangChain ${lcValue} (JSON), RedisVL-style embedding field ${rvlValue} (JSON) plus the text and metadata fields.`,
      'embedcache "new cache per round" rows open a cache with empty memory per round (outside the timing), so every read goes to Redis and adopts its vector into memory touched for the first time; the "long-lived" row keeps one cache holding one batch, so each batch is read from Redis and evicts the previous one into memory already in use. The remote reads are the same; the difference is the cost of first-touching fresh shared memory (page faults).',
      'LangChain: underlying embeddings never called during the timed rounds (checked). Keys: namespace + sha256(text) (hashing is inside the timing, as it is for every system).',
    );
    const rows: PeerRow[] = contenders.map((c) => ({
      system: c.system,
      label: LABELS[c.system],
      keysPerSec: median(perRound.get(c.system)!),
      rounds: perRound.get(c.system)!,
      bytesPerEntry: c.bytesPerEntry,
      usedMemoryPerEntry: c.usedMemoryPerEntry,
      valueBytes: c.valueBytes,
    }));
    await admin.sendCommand(['FLUSHALL']);
    return { rows, notes };
  } finally {
    for (const close of closers.reverse()) await close().catch(() => {});
  }
}
