// Worker thread for the two-thread rows of bench/peers.ts. Plain .mjs (no TypeScript transform
// in workers): embedcache comes from the built dist/, the peers from bench/peers/peers.mjs.
//
// Start-up: decode the shared text pool, open or attach the peer, post { type: 'ready' }.
// Then, per { type: 'run', op, durationMs, offset } message: run batches of `batch` keys (get
// hits, or set overwrites) from the pool, starting at `offset` so threads do not walk the pool in
// lock step, until durationMs has passed; post { type: 'result', keys, ns }.
//
// Kind 'message' is the design a Map or lru-cache forces on threads: the cache stays in the
// main thread and this worker sends it each batch on a BroadcastChannel (named after this
// thread's id) and waits for the vectors back.
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { createPeer } from '../peers/peers.mjs';
import { prng, unpackTexts } from './texts.mjs';

const { kind, dims, batch, handle, path, port, channelPrefix } = workerData;
const texts = unpackTexts(workerData.texts);

const batches = [];
for (let s = 0; s + batch <= texts.length; s += batch) batches.push(texts.slice(s, s + batch));
const vecs = [];
{
  const rand = prng(threadId + dims);
  for (let i = 0; i < batch; i++) {
    const v = new Float32Array(dims);
    for (let d = 0; d < dims; d++) v[d] = rand() * 2 - 1;
    vecs.push(v);
  }
}

function messagePeer() {
  const channel = new BroadcastChannel(`${channelPrefix}-${threadId}`);
  const pending = new Map();
  let nextId = 0;
  channel.onmessage = (ev) => {
    const settle = pending.get(ev.data.id);
    pending.delete(ev.data.id);
    settle?.(ev.data);
  };
  const request = (body) =>
    new Promise((resolve) => {
      const id = nextId++;
      pending.set(id, resolve);
      channel.postMessage({ id, ...body });
    });
  return {
    kind,
    async getMany(ts) {
      const reply = await request({ op: 'get', texts: ts });
      return reply.hits;
    },
    async setMany(ts, vs) {
      const packed = new Float32Array(ts.length * dims);
      for (let i = 0; i < ts.length; i++) packed.set(vs[i], i * dims);
      await request({ op: 'set', texts: ts, vecs: packed });
    },
    async close() {
      channel.close();
    },
  };
}

let peer;
if (kind === 'message') {
  peer = messagePeer();
} else if (kind === 'embedcache') {
  const { EmbeddingCache } = await import('../../dist/src/index.js');
  peer = await createPeer(kind, { dims, capacity: texts.length, EmbeddingCache, handle });
} else {
  peer = await createPeer(kind, { dims, capacity: texts.length, path, port });
}

async function run({ op, durationMs, offset }) {
  let b = offset % batches.length;
  let keys = 0;
  const t0 = process.hrtime.bigint();
  const limit = t0 + BigInt(Math.round(durationMs * 1e6));
  let now = t0;
  while (now < limit) {
    const ts = batches[b];
    if (op === 'get') {
      let hits = peer.getMany(ts);
      if (typeof hits !== 'number') hits = await hits;
      if (hits !== ts.length)
        throw new Error(`${kind}: ${ts.length - hits} of ${ts.length} gets missed in thread ${threadId}`);
    } else {
      const r = peer.setMany(ts, vecs);
      if (r !== undefined) await r;
    }
    keys += ts.length;
    b = b + 1 === batches.length ? 0 : b + 1;
    now = process.hrtime.bigint();
  }
  return { keys, ns: Number(now - t0) };
}

parentPort.on('message', async (msg) => {
  try {
    if (msg.type === 'run') {
      parentPort.postMessage({ type: 'result', ...(await run(msg)) });
    } else if (msg.type === 'close') {
      await peer.close();
      parentPort.postMessage({ type: 'closed' });
      parentPort.close();
    }
  } catch (err) {
    parentPort.postMessage({ type: 'error', message: err?.stack ?? String(err) });
  }
});
parentPort.postMessage({ type: 'ready' });
