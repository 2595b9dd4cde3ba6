/**
 * One "machine" of the fleet: a process of its own (its own memory, its own cache) that ingests
 * its corpus through getOrCompute with the stand-in model, and answers the parent's commands
 * (protocol.ts). Started by machines.ts with `node --import tsx`; loads the built library
 * (dist/), as a user's process would.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { CacheStats, EmbeddingCache as Cache } from '../../src/index.js';
import { BUILT_ENTRY } from '../lib/build.js';
import { bytesFor } from '../lib/sizing.js';
import { corpusText, fakeVector, sameVector } from './model.js';
import {
  type Command,
  type Commands,
  type FromMachine,
  type IngestReport,
  type MachineParams,
  type RemoteCounts,
  REMOTE_COUNTS,
  type ToMachine,
  wallNow,
} from './protocol.js';

type Lib = typeof import('../../src/index.js');

function send(msg: FromMachine, then?: () => void): void {
  process.send!(msg, undefined, undefined, then);
}

// The parent went away (crashed, or killed): nothing left to do here.
process.on('disconnect', () => process.exit(0));

let params: MachineParams;
let cache: Cache;
let texts: string[];
let indexOf: Map<string, number>;

function remoteCounts(s: CacheStats): RemoteCounts | undefined {
  if (s.remote === undefined) return undefined;
  const out = {} as RemoteCounts;
  for (const k of REMOTE_COUNTS) out[k] = s.remote[k];
  return out;
}

function delta(a: RemoteCounts | undefined, b: RemoteCounts | undefined): RemoteCounts | undefined {
  if (a === undefined || b === undefined) return undefined;
  const out = {} as RemoteCounts;
  for (const k of REMOTE_COUNTS) out[k] = b[k] - a[k];
  return out;
}

async function open(p: MachineParams): Promise<void> {
  params = p;
  const lib = (await import(BUILT_ENTRY)) as Lib;
  texts = p.corpus.map((i) => corpusText(i, p.corpusSeed));
  indexOf = new Map(texts.map((t, k) => [t, p.corpus[k]!]));
  const entries = Math.ceil(texts.length * 1.25) + 64;
  cache = await lib.EmbeddingCache.open({
    maxBytes: bytesFor(entries, p.dims),
    expectedEntries: entries,
    ...(p.url !== null ? { remote: { url: p.url, prefix: p.prefix } } : {}),
    ...(p.spillDir !== null ? { spill: { path: p.spillDir } } : {}),
  });
}

async function ingest(): Promise<IngestReport> {
  const p = params;
  const embeddedIdx: number[] = [];
  let embedCalls = 0;
  let embedMs = 0;
  const embed = async (missing: string[]): Promise<Float32Array[]> => {
    const t0 = performance.now();
    embedCalls++;
    for (const t of missing) embeddedIdx.push(indexOf.get(t) ?? -1);
    await sleep(p.embedMs);
    const out = missing.map((t) => fakeVector(t, p.dims));
    embedMs += performance.now() - t0;
    return out;
  };
  const before = cache.stats();
  const results = new Array<Float32Array>(texts.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < texts.length) {
      const start = next;
      next = Math.min(texts.length, next + p.chunk);
      const vs = await cache.getOrCompute(texts.slice(start, next), embed, {
        model: p.model,
        batchSize: p.batchSize,
      });
      for (let k = 0; k < vs.length; k++) results[start + k] = vs[k]!;
    }
  };
  const startedAt = wallNow();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: p.inflight }, lane));
  const ms = performance.now() - t0;
  const endedAt = wallNow();
  // Outside the timing: every vector handed back must be its text's own.
  let wrong = 0;
  const scratch = new Float32Array(p.dims);
  for (let k = 0; k < texts.length; k++) {
    if (!sameVector(results[k]!, fakeVector(texts[k]!, p.dims, scratch))) wrong++;
  }
  await cache.flush();
  const after = cache.stats();
  return {
    name: p.name,
    requested: texts.length,
    embedCalls,
    embedMs,
    embeddedIdx,
    ms,
    startedAt,
    endedAt,
    wrong,
    remote: delta(remoteCounts(before), remoteCounts(after)),
    computeEmbedded: after.compute.embedded - before.compute.embedded,
    localHits: after.hits - before.hits,
    localMisses: after.misses - before.misses,
    state: after.remote?.state ?? 'none',
  };
}

function localCount(): number {
  let n = 0;
  for (const t of texts) if (cache.has(t, { model: params.model })) n++;
  return n;
}

async function handle(cmd: Command, arg: unknown): Promise<unknown> {
  switch (cmd) {
    case 'ingest':
      return ingest();
    case 'watch': {
      const until = performance.now() + (arg as number);
      const before = localCount();
      const probe = texts[0]!;
      // Poll one text every millisecond: it drops with the model, all at once.
      while (cache.has(probe, { model: params.model }) && performance.now() < until) await sleep(1);
      const droppedAt = wallNow();
      return { droppedAt, before, after: localCount() } satisfies Commands['watch']['value'];
    }
    case 'invalidate': {
      const at = wallNow();
      cache.invalidateModel(params.model);
      await cache.flush();
      return { at } satisfies Commands['invalidate']['value'];
    }
    case 'local':
      return localCount();
    case 'fetch': {
      const t0 = performance.now();
      const got = await cache.fetchMany(texts, { model: params.model });
      const ms = performance.now() - t0;
      return { requested: texts.length, found: got.filter((v) => v !== undefined).length, ms };
    }
    case 'stats':
      return cache.stats();
    case 'close':
      await cache.close();
      return null;
  }
}

process.on('message', (raw) => {
  const msg = raw as ToMachine;
  if (msg.type === 'init') {
    open(msg.params).then(
      () => send({ type: 'ready', pid: process.pid }),
      (err: unknown) => {
        console.error(`machine ${msg.params.name}: could not open its cache:`, err);
        process.exit(1);
      },
    );
    return;
  }
  handle(msg.cmd, msg.arg).then(
    (value) => {
      // After 'close' the reply is the last word: leave once it is out.
      send(
        { type: 'reply', id: msg.id, ok: true, value },
        msg.cmd === 'close' ? () => process.exit(0) : undefined,
      );
    },
    (err: unknown) =>
      send({
        type: 'reply',
        id: msg.id,
        ok: false,
        error: err instanceof Error ? (err.stack ?? err.message) : String(err),
      }),
  );
});
