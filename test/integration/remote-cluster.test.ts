/**
 * The remote tier on a Redis Cluster (three real masters, test/support/redis.ts), through
 * clients the test creates (createCluster) and closes itself: the cache never closes a client it
 * was given.
 *
 * Keys carry one of 16 hash tags (remote/format.ts), so a batch read is one MGET per tag bucket:
 * at most 16 commands in all, a few per node — not one per key. The test counts the MGETs each
 * node served for one fetchMany of 1,000 texts from Redis's own command statistics.
 *
 * remote.timeoutMs is 5 s here: a write-behind batch (up to 512 conditional SETs, sent as one
 * call) that takes longer than timeoutMs on a loaded test machine is dropped and counted as an
 * error, by design; the default 500 ms would make the setup's writes flaky under load.
 */
import { createCluster } from 'redis';
import { afterEach, describe, expect, it } from 'vitest';
import type { EmbeddingCache } from '../../src/index.js';
import { BUCKET_TAGS } from '../../src/remote/format.js';
import { useCaches } from '../support/caches.js';
import { textFor, vectorFor } from '../support/data.mjs';
import { expectBitExact } from '../support/expect.js';
import { startCluster, type RedisCluster, type RedisServer } from '../support/redis.js';

const N = 1000;
const DIMS = 768;
const MODEL = 'm';
const KEEP = 'keep';

/** `calls` of `cmdstat_<command>` in a node's INFO commandstats (0 if it never ran). */
async function commandCalls(node: RedisServer, command: string): Promise<number> {
  const info = await node.cli('INFO', 'commandstats');
  const m = new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info);
  return m === null ? 0 : Number(m[1]);
}

/** keyspace_hits of a node's INFO stats: keys found by reads since the last CONFIG RESETSTAT. */
async function keyspaceHits(node: RedisServer): Promise<number> {
  const info = await node.cli('INFO', 'stats');
  return Number(/^keyspace_hits:(\d+)/m.exec(info)?.[1] ?? NaN);
}

async function pollUntil(ok: () => boolean, limitMs: number, everyMs = 20): Promise<number> {
  const start = Date.now();
  while (!ok()) {
    if (Date.now() - start > limitMs) break;
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
  return Date.now() - start;
}

describe('remote tier on a Redis Cluster (3 masters)', () => {
  let cluster: RedisCluster | undefined;
  const clients: { close(): Promise<void> }[] = [];
  const open = useCaches();

  afterEach(async () => {
    // After the caches (useCaches closes them first), then the cluster itself.
    for (const c of clients.splice(0)) await c.close().catch(() => {});
    await cluster?.stop();
    cluster = undefined;
  });

  it(
    'a batch read of 1,000 texts is at most one MGET per hash-tag bucket; invalidateModel crosses the cluster',
    { timeout: 90_000 },
    async () => {
      cluster = await startCluster(3);
      // One client connected here, one left for the cache to connect.
      const clientA = createCluster({ rootNodes: cluster.rootNodes });
      clients.push(clientA);
      await clientA.connect();
      const clientB = createCluster({ rootNodes: cluster.rootNodes });
      clients.push(clientB);
      let a: EmbeddingCache | undefined;
      let b: EmbeddingCache | undefined;
      try {
        a = await open({ maxBytes: 64 * 1024 * 1024, remote: { client: clientA, timeoutMs: 5000 } });
        b = await open({ maxBytes: 64 * 1024 * 1024, remote: { client: clientB, timeoutMs: 5000 } });
        expect(a.stats().remote!.state).toBe('up');
        expect(b.stats().remote!.state).toBe('up');

        const texts = Array.from({ length: N }, (_, i) => textFor(i));
        const vectors = texts.map((_, i) => vectorFor(i, 1, DIMS));
        a.setMany(texts, vectors, { model: MODEL });
        const kept = texts.slice(0, 50);
        a.setMany(
          kept,
          kept.map((_, i) => vectorFor(i, 2, 8)),
          { model: KEEP },
        );
        await a.flush();
        expect(a.stats().remote).toMatchObject({ writes: N + kept.length, errors: 0 });
        // Every value landed in Redis, spread over the three masters.
        const sizes = await Promise.all(cluster.nodes.map(async (n) => Number(await n.cli('DBSIZE'))));
        expect(sizes.every((s) => s > 0)).toBe(true);
        expect(sizes.reduce((x, y) => x + y, 0)).toBeGreaterThanOrEqual(N + kept.length);

        // The other machine reads the 1,000 from Redis: count the commands each node served.
        await Promise.all(cluster.nodes.map((n) => n.cli('CONFIG', 'RESETSTAT')));
        const got = await b.fetchMany(texts, { model: MODEL });
        const mgets = await Promise.all(cluster.nodes.map((n) => commandCalls(n, 'mget')));
        const gets = await Promise.all(cluster.nodes.map((n) => commandCalls(n, 'get')));
        const hits = await Promise.all(cluster.nodes.map(keyspaceHits));

        expect(got).toHaveLength(N);
        for (let i = 0; i < N; i++) expectBitExact(got[i], vectors[i]!);
        expect(b.stats().remote).toMatchObject({ hits: N, misses: 0, invalid: 0, errors: 0 });
        const total = mgets.reduce((x, y) => x + y, 0);
        for (const n of mgets)
          expect(n, `MGETs per node: ${mgets.join('/')}`).toBeLessThanOrEqual(BUCKET_TAGS);
        expect(total, `MGETs per node: ${mgets.join('/')}`).toBeLessThanOrEqual(BUCKET_TAGS);
        expect(total).toBeGreaterThan(0);
        // Not one command per key: the few GETs are the fleet's periodic generation read, if any.
        expect(
          gets.reduce((x, y) => x + y, 0),
          `GETs per node: ${gets.join('/')}`,
        ).toBeLessThan(10);
        // The values came from the nodes' keyspaces (1,000 keys found by those few commands).
        expect(hits.reduce((x, y) => x + y, 0)).toBeGreaterThanOrEqual(N);
        console.log(`fetchMany of ${N}: MGETs per node ${mgets.join('/')}, keyspace hits ${hits.join('/')}`);

        // The hits are in B's memory now.
        for (let i = 0; i < N; i += 97) expectBitExact(b.get(texts[i]!, { model: MODEL }), vectors[i]!);
        for (let i = 0; i < kept.length; i++) expect(b.has(kept[i]!, { model: KEEP })).toBe(false);
        const keptGot = await b.fetchMany(kept, { model: KEEP });
        for (let i = 0; i < kept.length; i++) expectBitExact(keptGot[i], vectorFor(i, 2, 8));

        // invalidateModel on A: B misses the model within 1.5 s (polled every 20 ms).
        const cache = b;
        const anyLeft = (): boolean => texts.some((t) => cache.get(t, { model: MODEL }) !== undefined);
        expect(anyLeft()).toBe(true);
        a.invalidateModel(MODEL);
        for (const t of texts) expect(a.get(t, { model: MODEL })).toBeUndefined();
        const took = await pollUntil(() => !anyLeft(), 1500);
        expect(anyLeft(), `B still served model ${MODEL} ${took} ms after A's invalidateModel`).toBe(false);
        expect(took).toBeLessThanOrEqual(1500);
        // Not from Redis either: the old generation's keys are no longer read.
        const after = await b.fetchMany(texts, { model: MODEL });
        expect(after.filter((v) => v !== undefined)).toHaveLength(0);
        // The other model still hits on B.
        for (let i = 0; i < kept.length; i++)
          expectBitExact(b.get(kept[i]!, { model: KEEP }), vectorFor(i, 2, 8));
        await a.flush();
        console.log(`invalidateModel reached the other cache in ${took} ms`);
      } finally {
        // Caches first, then the clients they were given (the caches never close those).
        await b?.close();
        await a?.close();
      }
    },
  );
});
