// What a user would pick instead of embedcache, each behind the same small batch interface, so
// bench/peers.ts runs one workload against all of them (and bench/workers/peer-worker.mjs the
// same code in a second thread; hence plain .mjs, which workers can load).
//
// Every peer is used the way its own documentation suggests, in its strongest reasonable setup:
//   lru-text     lru-cache keyed by the text, holding a Float32Array copy of each vector
//   lru-copy     the same, but get copies the vector out (a Float32Array the caller owns, as
//                embedcache's get returns): the peer for `get` on equal terms
//   lru-sha256   lru-cache keyed by sha256(text) (hex, node:crypto), Float32Array copies
//   map          a plain Map keyed by text, Float32Array copies, unbounded
//   langchain    LangChain's cache-backed-embeddings layout: key = LangChain's sha256(text),
//                value = UTF-8 JSON bytes of the vector, in a Map (the in-memory byte store)
//   lmdb         lmdb-js used directly as the cache: key = sha256 digest, value = the raw
//                float bytes, noSync (a cache need not survive a power cut)
//   redis        redis-server on loopback, key = sha256 hex, value = raw float bytes, pipelined
//   embedcache   this library (the class is passed in: src/ in the main thread, dist/ in workers);
//                get() returns a Float32Array with a buffer of its own
//   embedcache-into  the same cache read with getInto() into one reused Float32Array: no
//                allocation per read (V8 allocates each 3 KB ArrayBuffer off-heap, ~1 µs)
//
// A get returns what a caller could use: embedcache, lmdb and redis produce a fresh
// Float32Array; lru-cache and Map return the stored array itself (no copy: the cheapest their
// API allows), lru-copy a copy of it; langchain returns the parsed number[]. Sets copy the caller's vector (a cache
// must not alias a buffer the caller may reuse).
import { createHash } from 'node:crypto';
import { sha256 as langchainSha256 } from '@langchain/core/utils/hash';
import { open as openLmdb } from 'lmdb';
import { LRUCache } from 'lru-cache';
import { RespClient } from './resp.mjs';

export const PEER_KINDS = [
  'embedcache',
  'embedcache-into',
  'lru-text',
  'lru-copy',
  'lru-sha256',
  'map',
  'langchain',
  'lmdb',
  'redis',
];

export const PEER_LABELS = {
  embedcache: 'embedcache',
  'embedcache-into': 'embedcache (getInto, reused buffer)',
  'lru-text': 'lru-cache (text key)',
  'lru-copy': 'lru-cache (text key, get copies out)',
  'lru-sha256': 'lru-cache (sha256 key)',
  map: 'Map (text key)',
  langchain: 'LangChain-style (sha256, JSON bytes)',
  lmdb: 'lmdb (direct)',
  redis: 'Redis (loopback)',
};

const hex = (text) => createHash('sha256').update(text).digest('hex');
const digest = (text) => createHash('sha256').update(text).digest();
const bytesOf = (v) => Buffer.from(v.buffer, v.byteOffset, v.byteLength);
// Copies a value's bytes into a fresh (aligned) Float32Array. Uses `length`, not byteLength:
// lmdb-js's getBinaryFast returns a view of one reused global buffer whose byteLength is the
// buffer's capacity, with `length` set to the value's size.
const floatsOf = (b) => {
  const out = new Float32Array(b.length >>> 2);
  new Uint8Array(out.buffer).set(b.subarray(0, out.byteLength));
  return out;
};

/**
 * Opens a peer. opts: { dims, capacity (entries; bounded peers evict past it), EmbeddingCache
 * (class, for 'embedcache'), handle (attach instead of open), maxBytes, path (lmdb folder),
 * port (redis) }.
 */
export async function createPeer(kind, opts) {
  const { dims, capacity } = opts;
  switch (kind) {
    case 'embedcache':
    case 'embedcache-into': {
      const EC = opts.EmbeddingCache;
      const into = kind === 'embedcache-into';
      const out = new Float32Array(dims);
      const cache = opts.handle
        ? await EC.attach(opts.handle)
        : await EC.open({ maxBytes: opts.maxBytes, maxEntries: capacity, expectedEntries: capacity });
      return {
        kind,
        bounded: true,
        cache,
        getMany(texts) {
          let hits = 0;
          if (into) {
            for (let i = 0; i < texts.length; i++) if (cache.getInto(texts[i], out)) hits++;
          } else {
            for (let i = 0; i < texts.length; i++) if (cache.get(texts[i]) !== undefined) hits++;
          }
          return hits;
        },
        setMany(texts, vecs) {
          for (let i = 0; i < texts.length; i++) cache.set(texts[i], vecs[i]);
        },
        close: () => cache.close(),
      };
    }
    case 'lru-text':
    case 'lru-copy':
    case 'lru-sha256': {
      const lru = new LRUCache({ max: capacity });
      const keyOf = kind === 'lru-sha256' ? hex : (t) => t;
      const copyOut = kind === 'lru-copy';
      return {
        kind,
        bounded: true,
        getMany(texts) {
          let hits = 0;
          for (let i = 0; i < texts.length; i++) {
            const v = lru.get(keyOf(texts[i]));
            if (v !== undefined && (!copyOut || v.slice().length === dims)) hits++;
          }
          return hits;
        },
        setMany(texts, vecs) {
          for (let i = 0; i < texts.length; i++) lru.set(keyOf(texts[i]), vecs[i].slice());
        },
        async close() {
          lru.clear();
        },
      };
    }
    case 'map': {
      const map = new Map();
      return {
        kind,
        bounded: false,
        getMany(texts) {
          let hits = 0;
          for (let i = 0; i < texts.length; i++) if (map.get(texts[i]) !== undefined) hits++;
          return hits;
        },
        setMany(texts, vecs) {
          for (let i = 0; i < texts.length; i++) map.set(texts[i], vecs[i].slice());
        },
        async close() {
          map.clear();
        },
      };
    }
    case 'langchain': {
      const store = new Map();
      const enc = new TextEncoder();
      const dec = new TextDecoder();
      return {
        kind,
        bounded: false,
        getMany(texts) {
          let hits = 0;
          for (let i = 0; i < texts.length; i++) {
            const bytes = store.get(langchainSha256(texts[i]));
            if (bytes !== undefined && JSON.parse(dec.decode(bytes)).length === dims) hits++;
          }
          return hits;
        },
        setMany(texts, vecs) {
          for (let i = 0; i < texts.length; i++)
            store.set(langchainSha256(texts[i]), enc.encode(JSON.stringify(Array.from(vecs[i]))));
        },
        async close() {
          store.clear();
        },
      };
    }
    case 'lmdb': {
      // Opening the same path from a second thread shares the environment (lmdb-js supports it).
      const db = openLmdb({ path: opts.path, encoding: 'binary', noSync: true, noMemInit: true });
      return {
        kind,
        bounded: false,
        db,
        getMany(texts) {
          let hits = 0;
          for (let i = 0; i < texts.length; i++) {
            const b = db.getBinaryFast(digest(texts[i]));
            // getBinaryFast's buffer is only valid until the next read: copy it out.
            if (b !== undefined && floatsOf(b).length === dims) hits++;
          }
          return hits;
        },
        async setMany(texts, vecs) {
          let last;
          for (let i = 0; i < texts.length; i++) last = db.put(digest(texts[i]), bytesOf(vecs[i]));
          await last;
        },
        /** B-tree pages in use (overflow pages hold values over ~2 KB) × page size. */
        storeBytes() {
          const s = db.getStats();
          return s.pageSize * (s.treeBranchPageCount + s.treeLeafPageCount + s.overflowPages);
        },
        async close() {
          await db.close();
        },
      };
    }
    case 'redis': {
      const client = await RespClient.connect(opts.port);
      return {
        kind,
        bounded: false,
        client,
        async getMany(texts) {
          const replies = await client.pipeline(texts.map((t) => ['GET', hex(t)]));
          let hits = 0;
          for (const r of replies) {
            if (r instanceof Error) throw r;
            if (r !== null && floatsOf(r).length === dims) hits++;
          }
          return hits;
        },
        async setMany(texts, vecs) {
          const replies = await client.pipeline(texts.map((t, i) => ['SET', hex(t), bytesOf(vecs[i])]));
          for (const r of replies) if (r instanceof Error) throw r;
        },
        /** used_memory from INFO memory: everything redis-server allocated. */
        async usedMemory() {
          const info = String(await client.call('INFO', 'memory'));
          const m = /used_memory:(\d+)/.exec(info);
          return m ? Number(m[1]) : Number.NaN;
        },
        async close() {
          client.close();
        },
      };
    }
    default:
      throw new Error(`unknown peer ${kind}; known: ${PEER_KINDS.join(', ')}`);
  }
}
