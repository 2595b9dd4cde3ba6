// Piscina worker for bench/concurrency.ts (and bench/peers.ts's two-thread rows).
//
// Plain .mjs on purpose: worker threads get no TypeScript transform, so this loads the BUILT
// library from dist/ (`npm run build` first; the suites check that it exists).
//
// Two modes, same workload, so the table compares designs and nothing else:
//   shared   attach to the one cache through its handle and call get/set directly on the
//            shared memory: no message per key or per batch.
//   message  the "obvious alternative": the cache lives in the main thread; this worker sends
//            each batch's gets and sets (texts, and packed vectors for the sets) in one message
//            on a BroadcastChannel named after its threadId, and waits for the vectors back.
//
// A task is one batch: `ops` operations on keys drawn from the shared pool by a PRNG seeded per
// task, each a get with probability readRatio, else a set. It returns what it did, how long
// the batch took inside this thread (the p99 batch latency of the table) and which thread ran it.
import { threadId, workerData } from 'node:worker_threads';
import { EmbeddingCache } from '../../dist/src/index.js';
import { prng, unpackTexts } from './texts.mjs';

const { mode, handle, texts: packed, dims, readRatio, channelPrefix } = workerData;
const texts = unpackTexts(packed);
const keys = texts.length;

// One vector per thread, element 0 rewritten per set: a set copies it into the cache.
const vector = new Float32Array(dims);
// Reads copy into one reused array (getInto): the allocation-free read a hot loop should use.
// get() would add a fresh 3 KB ArrayBuffer per read, which V8 allocates off-heap (~1 µs each).
const out = new Float32Array(dims);
{
  const rand = prng(threadId * 7919 + dims);
  for (let d = 0; d < dims; d++) vector[d] = rand() * 2 - 1;
}

const cache = mode === 'shared' ? await EmbeddingCache.attach(handle) : undefined;
const channel = mode === 'message' ? new BroadcastChannel(`${channelPrefix}-${threadId}`) : undefined;
const pending = new Map();
let nextId = 0;
if (channel) {
  channel.onmessage = (ev) => {
    const resolve = pending.get(ev.data.id);
    if (resolve) {
      pending.delete(ev.data.id);
      resolve(ev.data);
    }
  };
}

function request(body) {
  return new Promise((resolve) => {
    const id = nextId++;
    pending.set(id, resolve);
    channel.postMessage({ id, ...body });
  });
}

export default async function task({ seed, ops }) {
  const rand = prng(seed);
  let gets = 0;
  let hits = 0;
  let sets = 0;
  let checksum = 0;
  const t0 = process.hrtime.bigint();
  if (cache) {
    for (let k = 0; k < ops; k++) {
      const key = Math.floor(rand() * keys);
      if (rand() < readRatio) {
        gets++;
        if (cache.getInto(texts[key], out)) {
          hits++;
          checksum += out[0];
        }
      } else {
        sets++;
        vector[0] = key;
        cache.set(texts[key], vector);
      }
    }
  } else {
    const getTexts = [];
    const setTexts = [];
    const setKeys = [];
    for (let k = 0; k < ops; k++) {
      const key = Math.floor(rand() * keys);
      if (rand() < readRatio) getTexts.push(texts[key]);
      else {
        setTexts.push(texts[key]);
        setKeys.push(key);
      }
    }
    const vecs = new Float32Array(setTexts.length * dims);
    for (let s = 0; s < setKeys.length; s++) {
      vector[0] = setKeys[s];
      vecs.set(vector, s * dims);
    }
    const reply = await request({ gets: getTexts, sets: setTexts, vecs });
    gets = getTexts.length;
    sets = setTexts.length;
    hits = reply.hits;
    const out = reply.out;
    for (let h = 0; h < hits; h++) checksum += out[h * dims];
  }
  const ns = Number(process.hrtime.bigint() - t0);
  return { ns, gets, hits, sets, checksum, thread: threadId };
}
