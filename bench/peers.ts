/**
 * bench:peers — embedcache side by side with what a user would use instead, in one run.
 *
 *   npm run build && npm run bench:peers
 *   flags: --peers a,b  --keys 4096  --dims 768  --text-bytes 1024  --rounds 7  --time 400 (ms)
 *          --entries 20000 (bytes/entry)  --threads 2 (0: skip the threaded rows)  --quick  --out
 *
 * The peers are in bench/peers/peers.mjs (lru-cache by text and by sha256, Map, a LangChain-style
 * store, lmdb, Redis when redis-server is installed), the tables and results file in
 * bench/peers/report.ts. One workload for all: 768-d vectors, ~1 KB chunk texts, batches of 256
 * keys.
 *
 * Why not benny here: the figures that matter are ratios (embedcache ÷ peer), and this machine
 * is shared, so load drifts during a run. Cases are therefore measured in interleaved rounds —
 * every round runs every (case, peer) pair for --time ms, in a rotated order — and the table
 * shows the median over rounds; a drift hits all peers alike instead of whoever ran last. The
 * first round is a warm-up and is dropped. A full GC runs before every window, so that no case
 * pays inside its own window for garbage the one before it left (a case's own garbage it still
 * pays for: get's 3 KB buffers, the fresh texts).
 *
 * Cases (keys/s):
 *   get hit               every key present; the same string objects every time
 *   get hit, fresh text   each lookup uses a newly built copy of the text, as a pipeline's
 *                         chunker would hand over. V8 caches a string's hash inside the string,
 *                         so a Map re-probed with the same string object skips hashing 1 KB;
 *                         a fresh string does not. The cost of building the copies is measured
 *                         alone ("fresh text, no lookup") and printed, so it can be subtracted.
 *   set (overwrite)       keys present, new vector
 *   set (new key, full)   bounded peers at half the pool, fed the pool round-robin: insert + evict
 *
 * Bytes per entry: a fresh process per peer inserts --entries entries (texts built inside the
 * loop and dropped, so a peer that keeps the text pays for it) and reports its growth: RSS for
 * in-process peers, B-tree pages for lmdb, used_memory for Redis.
 *
 * Threads (--threads 2): embedcache (workers attach to one cache), lmdb (one environment
 * opened in each thread), Redis (a connection per thread) and lru-cache in the main thread
 * queried by message (the only way threads share a Map or lru-cache) run the same get / set
 * batches from worker threads, 1 and N at a time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { BroadcastChannel, Worker } from 'node:worker_threads';
import { LRUCache } from 'lru-cache';
import { EmbeddingCache } from '../src/index.js';
import { buildProblem } from './lib/build.js';
import { boolFlag, intFlag, parseFlags, strFlag } from './lib/args.js';
import { childParams, runChild, serveChild, settledMemory } from './lib/child.js';
import { fmtOps, median } from './lib/results.js';
import { packTexts, type PackedTexts } from './lib/shared-texts.js';
import { bytesFor } from './lib/sizing.js';
import { meanBytes, textOfSize, vectorFor, VectorSource } from './lib/texts.js';
import { createPeer, PEER_KINDS, PEER_LABELS, type Peer, type PeerKind } from './peers/peers.mjs';
import { startRedis, type RedisServer } from './peers/redis-server.js';
import { RespClient } from './peers/resp.mjs';
import { CASES, type CaseName, report } from './peers/report.js';

const BATCH = 256;

export interface PeerCaseRow {
  peer: PeerKind;
  label: string;
  case: CaseName;
  /** Median keys/s over the measured rounds. */
  keysPerSec: number;
  /** keys/s of each measured round. */
  rounds: number[];
}

export interface PeerMemoryRow {
  peer: PeerKind;
  label: string;
  entries: number;
  bytesPerEntry: number;
  /** How the bytes were measured. */
  measuredAs: string;
  /** RSS growth per entry of the measuring process (all peers; for lmdb it includes mapped pages). */
  rssPerEntry: number;
  /** embedcache only: stats().memoryBytes / entries, what the cache reports about itself. */
  reportedPerEntry?: number;
}

export interface PeerThreadRow {
  peer: PeerKind | 'lru-message';
  label: string;
  threads: number;
  op: 'get' | 'set';
  keysPerSec: number;
  rounds: number[];
}

/** One results file holds three tables, told apart by `table`. */
export type PeerRow =
  | ({ table: 'case' } & PeerCaseRow)
  | ({ table: 'memory' } & PeerMemoryRow)
  | ({ table: 'threads' } & PeerThreadRow);

interface MemoryParams {
  mode: 'memory';
  kind: PeerKind;
  entries: number;
  dims: number;
  textBytes: number;
  port?: number;
}

// ── Bytes per entry (child process per peer) ────────────────────────────────────────────────

async function memoryChild(p: MemoryParams): Promise<PeerMemoryRow> {
  const vectors = new VectorSource(p.dims);
  let dir: string | undefined;
  if (p.kind === 'lmdb') dir = mkdtempSync(join(os.tmpdir(), 'embedcache-peer-lmdb-'));
  const peer = await createPeer(p.kind, {
    dims: p.dims,
    capacity: p.entries,
    EmbeddingCache,
    maxBytes: bytesFor(p.entries, p.dims),
    path: dir,
    port: p.port,
  });
  if (p.kind === 'redis') await peer.client!.call('FLUSHALL');
  // Warm the code paths on a few keys that are then overwritten by the real run.
  const warmTexts = Array.from({ length: BATCH }, (_, i) => textOfSize(i, p.textBytes));
  await peer.setMany(
    warmTexts,
    warmTexts.map((_, i) => vectors.copyOf(i)),
  );
  const redisBefore = p.kind === 'redis' ? await peer.usedMemory!() : 0;
  const rss0 = (await settledMemory()).rss;
  const batchVecs: Float32Array[] = Array.from({ length: BATCH }, () => new Float32Array(p.dims));
  for (let start = 0; start < p.entries; start += BATCH) {
    const n = Math.min(BATCH, p.entries - start);
    const ts = new Array<string>(n);
    for (let k = 0; k < n; k++) {
      ts[k] = textOfSize(start + k, p.textBytes);
      batchVecs[k]!.set(vectors.at(start + k));
    }
    await peer.setMany(ts, batchVecs.slice(0, n));
  }
  const rssGrowth = (await settledMemory()).rss - rss0;
  let bytes = rssGrowth;
  let measuredAs = 'process RSS growth';
  if (p.kind === 'lmdb') {
    bytes = peer.storeBytes!();
    measuredAs = 'LMDB B-tree + overflow pages';
  } else if (p.kind === 'redis') {
    bytes = (await peer.usedMemory!()) - redisBefore;
    measuredAs = 'redis INFO used_memory growth';
    await peer.client!.call('FLUSHALL');
  }
  const reportedPerEntry = peer.cache ? peer.cache.stats().memoryBytes / p.entries : undefined;
  await peer.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  return {
    peer: p.kind,
    label: PEER_LABELS[p.kind],
    entries: p.entries,
    bytesPerEntry: bytes / p.entries,
    measuredAs,
    rssPerEntry: rssGrowth / p.entries,
    reportedPerEntry,
  };
}

// ── Single thread, interleaved rounds ───────────────────────────────────────────────────────

/** A new string with the same contents (its hash not yet computed). */
const fresh = (s: string) => (s + ' ').slice(0, -1);

interface Contender {
  kind: PeerKind;
  main: Peer;
  /** Bounded peers only: capacity half the pool, for the insert + evict case. */
  evicting?: Peer;
  cursor: number;
}

// A full GC on demand, without restarting under --expose-gc: the flag set now gives a fresh context
// its gc() (see the header: one runs before every timed window).
setFlagsFromString('--expose-gc');
const fullGc = runInNewContext('gc') as () => void;

async function timeCase(
  c: Contender,
  name: CaseName,
  batches: string[][],
  vecs: Float32Array[][],
  ms: number,
): Promise<number> {
  fullGc();
  const limit = process.hrtime.bigint() + BigInt(Math.round(ms * 1e6));
  const t0 = process.hrtime.bigint();
  let now = t0;
  let keys = 0;
  let b = c.cursor;
  while (now < limit) {
    const ts = batches[b]!;
    if (name === 'get hit' || name === 'get hit, fresh text') {
      const q = name === 'get hit' ? ts : ts.map(fresh);
      const r = c.main.getMany(q);
      const hits = typeof r === 'number' ? r : await r;
      if (hits !== ts.length)
        throw new Error(
          `${c.kind}: ${ts.length - hits} of ${ts.length} gets missed (every key was inserted)`,
        );
    } else {
      const target = name === 'set (overwrite)' ? c.main : c.evicting!;
      const r = target.setMany(ts, vecs[b]!);
      if (r !== undefined) await r;
    }
    keys += ts.length;
    b = b + 1 === batches.length ? 0 : b + 1;
    now = process.hrtime.bigint();
  }
  c.cursor = b;
  return keys / (Number(now - t0) / 1e9);
}

/** Keys/s of building fresh text copies alone: the overhead inside "get hit, fresh text". */
function timeFreshOnly(batches: string[][], ms: number): number {
  fullGc();
  const t0 = process.hrtime.bigint();
  const limit = t0 + BigInt(Math.round(ms * 1e6));
  let now = t0;
  let keys = 0;
  let b = 0;
  let sink = 0;
  while (now < limit) {
    const q = batches[b]!.map(fresh);
    sink += q[0]!.length;
    keys += q.length;
    b = b + 1 === batches.length ? 0 : b + 1;
    now = process.hrtime.bigint();
  }
  if (sink < 0) console.log(sink);
  return keys / (Number(now - t0) / 1e9);
}

// ── Threads ──────────────────────────────────────────────────────────────────────────────────

interface ThreadTarget {
  kind: PeerKind | 'lru-message';
  label: string;
  workerData: Record<string, unknown>;
  /** Main-thread side (the message server); closed after the target's rows. */
  close?: () => void | Promise<void>;
  onWorker?: (w: Worker) => void;
}

function waitFor(w: Worker, type: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    // Both listeners come off when either fires: a worker waited on once per round must not
    // collect an error listener per round.
    const done = () => {
      w.off('message', onMsg);
      w.off('error', onError);
    };
    const onError = (err: unknown) => {
      done();
      reject(err instanceof Error ? err : new Error(String(err)));
    };
    const onMsg = (m: Record<string, unknown>) => {
      if (m.type === type) {
        done();
        resolve(m);
      } else if (m.type === 'error') {
        done();
        reject(new Error(String(m.message)));
      }
    };
    w.on('message', onMsg);
    w.on('error', onError);
  });
}

async function runThreads(
  target: ThreadTarget,
  threads: number,
  rounds: number,
  ms: number,
): Promise<PeerThreadRow[]> {
  const url = new URL('./workers/peer-worker.mjs', import.meta.url);
  const workers: Worker[] = [];
  for (let t = 0; t < threads; t++) {
    const w = new Worker(url, { workerData: target.workerData });
    target.onWorker?.(w);
    workers.push(w);
  }
  await Promise.all(workers.map((w) => waitFor(w, 'ready')));
  const rows: PeerThreadRow[] = [];
  for (const op of ['get', 'set'] as const) {
    const perRound: number[] = [];
    for (let r = 0; r <= rounds; r++) {
      const results = await Promise.all(
        workers.map((w, i) => {
          const p = waitFor(w, 'result');
          w.postMessage({ type: 'run', op, durationMs: r === 0 ? ms / 3 : ms, offset: i * 7 + r });
          return p;
        }),
      );
      // Round 0 warms up. Total rate = sum of each thread's rate over its own window.
      if (r > 0)
        perRound.push(results.reduce((s, x) => s + (x.keys as number) / ((x.ns as number) / 1e9), 0));
    }
    rows.push({
      peer: target.kind,
      label: target.label,
      threads,
      op,
      keysPerSec: median(perRound),
      rounds: perRound,
    });
  }
  for (const w of workers) {
    const closed = waitFor(w, 'closed');
    w.postMessage({ type: 'close' });
    await closed;
    await w.terminate();
  }
  return rows;
}

/** The Map / lru-cache design for threads: one lru-cache in this thread, asked by message. */
function lruMessageServer(
  texts: string[],
  vectors: Float32Array[],
  dims: number,
  prefix: string,
): { onWorker: (w: Worker) => void; close: () => void } {
  const lru = new LRUCache<string, Float32Array>({ max: texts.length });
  texts.forEach((t, i) => lru.set(t, vectors[i]!.slice()));
  const channels: BroadcastChannel[] = [];
  return {
    onWorker(w) {
      const ch = new BroadcastChannel(`${prefix}-${w.threadId}`);
      ch.onmessage = (ev) => {
        const m = (ev as MessageEvent).data as {
          id: number;
          op: 'get' | 'set';
          texts: string[];
          vecs?: Float32Array;
        };
        if (m.op === 'get') {
          const out = new Float32Array(m.texts.length * dims);
          let hits = 0;
          for (const t of m.texts) {
            const v = lru.get(t);
            if (v !== undefined) out.set(v, dims * hits++);
          }
          ch.postMessage({ id: m.id, hits, out: out.subarray(0, hits * dims) });
        } else {
          for (let i = 0; i < m.texts.length; i++)
            lru.set(m.texts[i]!, m.vecs!.slice(i * dims, (i + 1) * dims));
          ch.postMessage({ id: m.id });
        }
      };
      channels.push(ch);
    },
    close() {
      for (const ch of channels) ch.close();
      lru.clear();
    },
  };
}

// ── Main ─────────────────────────────────────────────────────────────────────────────────────

async function main(): Promise<void> {
  const flags = parseFlags({
    peers: { type: 'string' },
    keys: { type: 'string' },
    dims: { type: 'string' },
    'text-bytes': { type: 'string' },
    rounds: { type: 'string' },
    time: { type: 'string' },
    entries: { type: 'string' },
    threads: { type: 'string' },
    quick: { type: 'boolean' },
    out: { type: 'string' },
    help: { type: 'boolean' },
  });
  if (boolFlag(flags, 'help')) {
    console.log(
      'npm run bench:peers -- [--peers embedcache,lru-text,...] [--keys 4096] [--dims 768] [--text-bytes 1024] [--rounds 7] [--time 400] [--entries 20000] [--threads 2] [--quick] [--out path]',
    );
    process.exit(0);
  }
  const quick = boolFlag(flags, 'quick');
  const kinds = (strFlag(flags, 'peers') ?? PEER_KINDS.join(',')).split(',') as PeerKind[];
  for (const k of kinds) {
    if (!PEER_KINDS.includes(k)) {
      console.error(`--peers: unknown peer ${k}; known: ${PEER_KINDS.join(', ')}`);
      process.exit(2);
    }
  }
  if (!kinds.includes('embedcache')) kinds.unshift('embedcache');
  const keys = intFlag(flags, 'keys', quick ? 2048 : 4096, BATCH * 2);
  const dims = intFlag(flags, 'dims', 768, 1, 65_000);
  const textBytes = intFlag(flags, 'text-bytes', 1024, 16);
  const rounds = intFlag(flags, 'rounds', quick ? 3 : 7, 1, 100);
  const ms = intFlag(flags, 'time', quick ? 150 : 400, 10);
  const entries = intFlag(flags, 'entries', quick ? 5_000 : 20_000, BATCH);
  const threads = intFlag(flags, 'threads', quick ? 0 : 2, 0, 64);
  const notes: string[] = [];
  const skipped: Record<string, string> = {};

  let redis: RedisServer | undefined;
  if (kinds.includes('redis')) {
    const r = await startRedis();
    if (r.ok) {
      redis = r.server;
      notes.push(
        `Redis ${r.server.version} on 127.0.0.1:${r.server.port}, no persistence, pipelined batches of ${BATCH}.`,
      );
    } else {
      skipped.redis = r.reason;
      kinds.splice(kinds.indexOf('redis'), 1);
      console.log(`Redis: skipped — ${r.reason}`);
    }
  }

  const texts = Array.from({ length: keys }, (_, i) => textOfSize(i, textBytes));
  const vectors = texts.map((_, i) => vectorFor(i, dims));
  const batches: string[][] = [];
  const batchVecs: Float32Array[][] = [];
  for (let s = 0; s + BATCH <= keys; s += BATCH) {
    batches.push(texts.slice(s, s + BATCH));
    batchVecs.push(vectors.slice(s, s + BATCH));
  }
  const lmdbDirs: string[] = [];
  const tmp = () => {
    const d = mkdtempSync(join(os.tmpdir(), 'embedcache-peer-lmdb-'));
    lmdbDirs.push(d);
    return d;
  };

  try {
    // ── Single thread ──
    const contenders: Contender[] = [];
    for (const kind of kinds) {
      const open = (capacity: number) =>
        createPeer(kind, {
          dims,
          capacity,
          EmbeddingCache,
          maxBytes: bytesFor(keys, dims),
          path: kind === 'lmdb' ? tmp() : undefined,
          port: redis?.port,
        });
      const main = await open(keys);
      if (kind === 'redis') await main.client!.call('FLUSHALL');
      for (let b = 0; b < batches.length; b++) await main.setMany(batches[b]!, batchVecs[b]!);
      const evicting = main.bounded ? await open(keys >> 1) : undefined;
      contenders.push({ kind, main, evicting, cursor: 0 });
    }
    const samples = new Map<string, number[]>();
    const freshOnly: number[] = [];
    console.log(
      `peers: ${kinds.join(', ')} — ${dims}-d, ${keys} keys of ~${Math.round(meanBytes(texts))} B text, ${rounds} rounds × ${ms} ms per case`,
    );
    for (let r = 0; r <= rounds; r++) {
      process.stderr.write(r === 0 ? '  warm-up round\n' : `  round ${r}/${rounds}\n`);
      for (const name of CASES) {
        // Rotate the order each round so no peer always runs first (or right after another).
        for (let k = 0; k < contenders.length; k++) {
          const c = contenders[(k + r) % contenders.length]!;
          if (name === 'set (new key, full)' && !c.evicting) continue;
          const rate = await timeCase(c, name, batches, batchVecs, r === 0 ? ms / 3 : ms);
          if (r > 0) {
            const key = `${c.kind}|${name}`;
            samples.set(key, [...(samples.get(key) ?? []), rate]);
          }
        }
      }
      if (r > 0) freshOnly.push(timeFreshOnly(batches, ms));
    }
    for (const c of contenders) {
      await c.main.close();
      await c.evicting?.close();
    }
    const caseRows: PeerCaseRow[] = [];
    for (const kind of kinds) {
      for (const name of CASES) {
        const s = samples.get(`${kind}|${name}`);
        if (s)
          caseRows.push({
            peer: kind,
            label: PEER_LABELS[kind],
            case: name,
            keysPerSec: median(s),
            rounds: s,
          });
      }
    }
    notes.push(
      `Building fresh text copies alone runs at ${fmtOps(median(freshOnly))} keys/s (median); that cost is inside every "get hit, fresh text" figure.`,
    );

    // ── Bytes per entry ──
    const memRows: PeerMemoryRow[] = [];
    const self = fileURLToPath(import.meta.url);
    for (const kind of kinds) {
      process.stderr.write(`  bytes per entry: ${PEER_LABELS[kind]} (${entries} entries)\n`);
      memRows.push(
        await runChild<MemoryParams, PeerMemoryRow>(self, {
          mode: 'memory',
          kind,
          entries,
          dims,
          textBytes,
          port: redis?.port,
        }),
      );
    }

    // ── Threads ──
    const threadRows: PeerThreadRow[] = [];
    if (threads >= 2) {
      const problem = buildProblem();
      if (problem !== undefined) {
        skipped.threads = problem;
      } else {
        const packed: PackedTexts = packTexts(texts);
        const base = { dims, batch: BATCH, texts: packed };
        const targets: ThreadTarget[] = [];
        const ec = await EmbeddingCache.open({
          maxBytes: bytesFor(keys, dims),
          maxEntries: keys,
          expectedEntries: keys,
        });
        ec.setMany(texts, vectors);
        targets.push({
          kind: 'embedcache',
          label: 'embedcache (shared memory)',
          workerData: { ...base, kind: 'embedcache', handle: ec.handle },
          close: () => ec.close(),
        });
        if (kinds.includes('lmdb')) {
          const path = tmp();
          const seed = await createPeer('lmdb', { dims, capacity: keys, path });
          for (let b = 0; b < batches.length; b++) await seed.setMany(batches[b]!, batchVecs[b]!);
          targets.push({
            kind: 'lmdb',
            label: 'lmdb (one env, every thread)',
            workerData: { ...base, kind: 'lmdb', path },
            close: () => seed.close(),
          });
        }
        if (redis) {
          const c = await RespClient.connect(redis.port);
          await c.call('FLUSHALL');
          c.close();
          const seed = await createPeer('redis', { dims, capacity: keys, port: redis.port });
          for (let b = 0; b < batches.length; b++) await seed.setMany(batches[b]!, batchVecs[b]!);
          await seed.close();
          targets.push({
            kind: 'redis',
            label: 'Redis (a connection per thread)',
            workerData: { ...base, kind: 'redis', port: redis.port },
          });
        }
        const prefix = `embedcache-peers-${process.pid}`;
        const server = lruMessageServer(texts, vectors, dims, prefix);
        targets.push({
          kind: 'lru-message',
          label: 'lru-cache in main thread, by message',
          workerData: { ...base, kind: 'message', channelPrefix: prefix },
          onWorker: server.onWorker,
          close: server.close,
        });
        for (const target of targets) {
          for (const t of [1, threads]) {
            process.stderr.write(`  threads: ${target.label}, ${t}\n`);
            threadRows.push(...(await runThreads(target, t, rounds, ms)));
          }
          await target.close?.();
        }
      }
    }

    report(
      caseRows,
      memRows,
      threadRows,
      { kinds, keys, dims, textBytes, rounds, ms, entries, threads, quick, skipped },
      notes,
      strFlag(flags, 'out'),
    );
  } finally {
    await redis?.stop();
    for (const d of lmdbDirs) rmSync(d, { recursive: true, force: true });
  }
}

const params = childParams<MemoryParams>();
if (params !== undefined) await serveChild(params, memoryChild);
else await main();
