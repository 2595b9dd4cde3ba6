/**
 * getOrCompute: the pipeline path. Look every text up; send only the unique misses to the
 * model, in batches; store what comes back; answer in input order.
 *
 * Why it is shaped this way:
 * - The all-hit path is the common one once a corpus has been seen, so it is one getMany and
 *   a scan for holes: no Map, no key hashing beyond getMany's own, no claim.
 * - On a miss, each unique text is claimed in the single-flight table (./inflight.ts)
 *   before the model sees it. A claim held by another call — in this thread or any attached
 *   thread — means "someone is embedding this right now": wait for it (never blocking the
 *   thread) and read the cache, instead of paying the model twice. Claims are taken for every
 *   unique miss up front, our own texts are embedded first and only then do we wait for other
 *   callers' texts: a caller never waits while it holds claims others are waiting on, so two
 *   callers cannot wait on each other.
 * - After claiming, the cache is checked once more (has, which counts nothing): a text stored
 *   and released by another caller between our lookup and our claim is a hit, not a second
 *   model call. Only that double check makes "each unique text embedded once" hold.
 * - Every failure path releases every claim, so waiters wake, miss, and compute themselves;
 *   nothing is stored for texts whose batch failed (batches that succeeded earlier stay stored).
 * - A waiter bounds its wait by waitTimeoutMs, then takes the claim over and computes itself: a
 *   dead computer (a terminated worker) delays its waiters, never hangs them.
 *
 * Counting: the first lookup counts a hit or a miss per text; a text obtained by waiting for
 * another caller is then read once more and counts a hit as well.
 */
import type { EmbeddingCache, SetOptions } from '../cache.js';
import { describe, EmbeddingCacheError, invalidText } from '../errors.js';
import { BUSY, CLAIMED, HELD, InflightTable } from './inflight.js';

/** Turns texts into vectors: one vector per text, in order. Sync or async. */
export type EmbedFunction = (missing: string[]) => Promise<ArrayLike<ArrayLike<number>>> | ArrayLike<ArrayLike<number>>;

export interface GetOrComputeOptions extends SetOptions {
  /** Most texts per embed() call. Default: 128. */
  batchSize?: number;
  /**
   * How long to wait for a text another caller is embedding before taking it over and
   * embedding it here. Also the lease of this call's own claims (at least 1 s), renewed before
   * each batch. Default: 30 000 ms.
   */
  waitTimeoutMs?: number;
}

export const DEFAULT_BATCH_SIZE = 128;
export const DEFAULT_WAIT_TIMEOUT_MS = 30_000;
/** Shortest claim lease: a claim must survive ordinary scheduling hiccups of its owner. */
const MIN_LEASE_MS = 1000;

/** One single-flight view per cache instance (it carries the instance's owner token). */
const tables = new WeakMap<EmbeddingCache, InflightTable>();

function tableFor(cache: EmbeddingCache): InflightTable {
  let t = tables.get(cache);
  if (t === undefined) {
    const h = cache.handle;
    t = new InflightTable(h.inflight, cache.ownerToken, h.options.lockTimeoutMs);
    tables.set(cache, t);
  }
  return t;
}

/** @internal The single-flight table this cache instance uses (tests and the demo read its counters). */
export function inflightTable(cache: EmbeddingCache): InflightTable {
  return tableFor(cache);
}

function argumentError(rule: string, got: unknown): EmbeddingCacheError {
  return new EmbeddingCacheError('ERR_INVALID_ARGUMENT', `getOrCompute(): ${rule}, got ${describe(got)}.`);
}

/**
 * Returns one Float32Array per text, in input order: hits from the cache, misses embedded (each
 * unique text once, across concurrent calls and threads), stored, and returned.
 * Rejects with ERR_EMBED_FAILED if `embed` throws or returns the wrong count or bad vectors.
 */
export async function getOrCompute(
  cache: EmbeddingCache,
  texts: readonly string[],
  embed: EmbedFunction,
  opts?: GetOrComputeOptions,
): Promise<Float32Array[]> {
  if (!Array.isArray(texts)) throw argumentError('texts must be an array of strings', texts);
  if (typeof embed !== 'function') throw argumentError('embed must be a function (texts: string[]) => vectors', embed);
  let batchSize = DEFAULT_BATCH_SIZE;
  let waitMs = DEFAULT_WAIT_TIMEOUT_MS;
  if (opts !== undefined) {
    if (typeof opts !== 'object' || opts === null) throw new TypeError('getOrCompute(): options must be an object like { model, batchSize }.');
    if (opts.batchSize !== undefined) {
      batchSize = opts.batchSize;
      if (typeof batchSize !== 'number' || !Number.isInteger(batchSize) || batchSize < 1) {
        throw new RangeError(`options.batchSize must be a positive integer (texts per embed call), got ${describe(batchSize)}.`);
      }
    }
    if (opts.waitTimeoutMs !== undefined) {
      waitMs = opts.waitTimeoutMs;
      if (typeof waitMs !== 'number' || !Number.isFinite(waitMs) || waitMs < 0) {
        throw new RangeError(`options.waitTimeoutMs must be a finite number of milliseconds >= 0, got ${describe(waitMs)}.`);
      }
    }
  }
  const n = texts.length;
  let out: (Float32Array | undefined)[];
  try {
    out = cache.getMany(texts, opts); // validates every text; the hot path adds only the scan below
  } catch (e) {
    if (e instanceof EmbeddingCacheError && e.code === 'ERR_INVALID_TEXT') {
      const bad = texts.findIndex((t) => typeof t !== 'string');
      throw invalidText(texts[bad], `getOrCompute() texts[${bad}]`);
    }
    throw e;
  }
  for (let i = 0; i < n; i++) {
    if (out[i] === undefined) return fillMisses(cache, texts, out, i, embed, opts, batchSize, waitMs);
  }
  return out as Float32Array[];
}

async function fillMisses(
  cache: EmbeddingCache,
  texts: readonly string[],
  out: (Float32Array | undefined)[],
  first: number,
  embed: EmbedFunction,
  opts: GetOrComputeOptions | undefined,
  batchSize: number,
  waitMs: number,
): Promise<Float32Array[]> {
  // Dedupe the misses: unique[u] is a text, uniqueOf[p - first] the unique index of position p.
  const index = new Map<string, number>();
  const unique: string[] = [];
  const uniqueOf = new Int32Array(texts.length - first).fill(-1);
  for (let p = first; p < texts.length; p++) {
    if (out[p] !== undefined) continue;
    const t = texts[p]!;
    let u = index.get(t);
    if (u === undefined) {
      u = unique.length;
      unique.push(t);
      index.set(t, u);
    }
    uniqueOf[p - first] = u;
  }
  const vectors = await resolveUnique(cache, unique, embed, opts, batchSize, waitMs);
  // The first position of a text gets the vector itself, duplicates a copy each: every result
  // is an array its caller owns, as with get().
  const used = new Uint8Array(unique.length);
  for (let p = first; p < texts.length; p++) {
    const u = uniqueOf[p - first]!;
    if (u < 0) continue;
    const v = vectors[u]!;
    out[p] = used[u] === 0 ? v : v.slice();
    used[u] = 1;
  }
  return out as Float32Array[];
}

/** Vectors for `unique` (distinct texts that all missed), embedding only those no one else is computing. */
async function resolveUnique(
  cache: EmbeddingCache,
  unique: string[],
  embed: EmbedFunction,
  opts: GetOrComputeOptions | undefined,
  batchSize: number,
  waitMs: number,
): Promise<Float32Array[]> {
  const m = unique.length;
  const table = tableFor(cache);
  const lease = Math.max(MIN_LEASE_MS, waitMs);
  const keys = new Int32Array(m * 4);
  for (let u = 0; u < m; u++) cache.keyWords(unique[u]!, opts, keys, u * 4);
  const vectors = new Array<Float32Array | undefined>(m);
  // Our claim per text (slot, state); slot -1 = none. Held: the claim we wait for.
  const mySlot = new Int32Array(m).fill(-1);
  const myState = new Int32Array(m);
  const heldSlot = new Int32Array(m);
  const heldState = new Int32Array(m);
  /** Texts whose wait timed out and that no claim could be had for: computed without one. */
  const forced = new Uint8Array(m);
  const res = new Int32Array(2);
  const releaseAll = (): void => {
    for (let u = 0; u < m; u++) {
      if (mySlot[u]! >= 0) table.release(mySlot[u]!, myState[u]!);
      mySlot[u] = -1;
    }
  };

  let todo: number[] = Array.from({ length: m }, (_, u) => u);
  let waitUntil = 0;
  try {
    while (todo.length > 0) {
      const mine: number[] = [];
      const held: number[] = [];
      const next: number[] = [];
      for (const u of todo) {
        if (mySlot[u]! >= 0 || forced[u] === 1) {
          mine.push(u);
          continue;
        }
        const r = table.claim(keys, u * 4, lease, res, 0);
        if (r === CLAIMED) {
          mySlot[u] = res[0]!;
          myState[u] = res[1]!;
          mine.push(u);
        } else if (r === HELD) {
          heldSlot[u] = res[0]!;
          heldState[u] = res[1]!;
          held.push(u);
        } else if (r === BUSY) {
          next.push(u);
        } else {
          mine.push(u); // FULL: no single-flight for this text
        }
      }

      // Stored by someone else since our lookup? Then it is a hit, not a model call.
      const need: number[] = [];
      for (const u of mine) {
        const v = cache.has(unique[u]!, opts) ? cache.get(unique[u]!, opts) : undefined;
        if (v === undefined) {
          need.push(u);
          continue;
        }
        vectors[u] = v;
        if (mySlot[u]! >= 0) table.release(mySlot[u]!, myState[u]!);
        mySlot[u] = -1;
      }
      let renewed = Date.now();
      for (let b = 0; b < need.length; b += batchSize) {
        const batch = need.slice(b, b + batchSize);
        if (Date.now() - renewed > lease / 4) {
          // Long runs of batches: keep the leases of the claims still ahead of us fresh.
          renewed = Date.now();
          for (let i = b; i < need.length; i++) {
            const u = need[i]!;
            if (mySlot[u]! >= 0) table.renew(mySlot[u]!, myState[u]!, lease);
          }
        }
        const batchTexts = batch.map((u) => unique[u]!);
        const got = await callEmbed(embed, batchTexts);
        const vs = checkVectors(got, batchTexts.length);
        storeBatch(cache, batchTexts, vs, opts);
        for (let i = 0; i < batch.length; i++) {
          const u = batch[i]!;
          vectors[u] = vs[i]!;
          if (mySlot[u]! >= 0) table.release(mySlot[u]!, myState[u]!);
          mySlot[u] = -1;
        }
      }

      // Now, holding no claims, wait for the texts other callers are embedding.
      if (held.length > 0 && waitUntil === 0) waitUntil = Date.now() + waitMs;
      for (const u of held) {
        const taken = await table.wait(heldSlot[u]!, heldState[u]!, waitUntil, lease);
        if (taken > 0) {
          mySlot[u] = heldSlot[u]!; // taken over: ours to compute next round
          myState[u] = taken;
          next.push(u);
          continue;
        }
        const v = cache.get(unique[u]!, opts);
        if (v !== undefined) {
          vectors[u] = v;
          continue;
        }
        // Its computer failed (or its entry was evicted at once): try again, ourselves if out of time.
        if (Date.now() >= waitUntil) forced[u] = 1;
        next.push(u);
      }
      if (next.length > 0 && held.length === 0 && mine.length === 0) await sleep(1); // only busy locks: yield
      todo = next;
    }
  } catch (e) {
    // Whatever failed (the model, the cache), no claim of ours outlives this call: waiters wake,
    // miss, and compute themselves.
    releaseAll();
    throw e;
  }
  return vectors as Float32Array[];
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function embedFailed(message: string, cause: unknown): EmbeddingCacheError {
  return new EmbeddingCacheError('ERR_EMBED_FAILED', `getOrCompute(): ${message} Nothing was stored for these texts; calling again retries them.`, { cause });
}

async function callEmbed(embed: EmbedFunction, batch: string[]): Promise<unknown> {
  try {
    return await embed(batch);
  } catch (e) {
    const why = e instanceof Error ? e.message : describe(e);
    throw embedFailed(`embed() failed on a batch of ${batch.length} texts: ${why}.`, e);
  }
}

function badVector(i: number, why: string): EmbeddingCacheError {
  const inner = new EmbeddingCacheError('ERR_INVALID_VECTOR', `vector ${i} ${why}`);
  return embedFailed(`embed() returned a bad vector: vector ${i} ${why}; every vector must be a non-empty array of finite numbers, all of one length.`, inner);
}

/** Validates embed()'s answer for `count` texts and copies it into Float32Arrays this call owns. */
function checkVectors(got: unknown, count: number): Float32Array[] {
  if (typeof got !== 'object' || got === null || typeof (got as ArrayLike<unknown>).length !== 'number') {
    throw embedFailed(`embed() returned ${describe(got)}; it must return an array of ${count} vectors.`, new TypeError(`expected an array of ${count} vectors, got ${describe(got)}`));
  }
  const list = got as ArrayLike<unknown>;
  if (list.length !== count) {
    throw embedFailed(`embed() returned ${list.length} vectors for ${count} texts; it must return one vector per text, in order.`, new RangeError(`expected ${count} vectors, got ${list.length}`));
  }
  const out = new Array<Float32Array>(count);
  let dims = -1;
  for (let i = 0; i < count; i++) {
    const v = list[i];
    let f: Float32Array;
    if (v instanceof Float32Array) {
      f = v.slice();
    } else if (typeof v === 'object' && v !== null && typeof (v as ArrayLike<unknown>).length === 'number' && !(v instanceof BigInt64Array) && !(v instanceof BigUint64Array)) {
      const src = v as ArrayLike<unknown>;
      f = new Float32Array(src.length);
      for (let j = 0; j < src.length; j++) {
        const x = src[j];
        if (typeof x !== 'number') throw badVector(i, `has a non-number at index ${j} (${describe(x)})`);
        f[j] = x;
      }
    } else {
      throw badVector(i, `is ${describe(v)}, not an array of numbers`);
    }
    if (f.length === 0) throw badVector(i, 'is empty');
    if (dims < 0) dims = f.length;
    else if (f.length !== dims) throw badVector(i, `has ${f.length} dimensions where vector 0 has ${dims}`);
    // x * 0 is NaN exactly when x is NaN or ±Infinity (float32 overflow included).
    let acc = 0;
    for (let j = 0; j < f.length; j++) acc += f[j]! * 0;
    if (acc !== 0) {
      const bad = f.findIndex((x) => !Number.isFinite(x));
      throw badVector(i, `has a non-finite value (${f[bad]}) at index ${bad}`);
    }
    out[i] = f;
  }
  return out;
}

/** setMany, with a vector the cache rejects (e.g. another dimension than the model's) reported as the model's fault. */
function storeBatch(cache: EmbeddingCache, texts: string[], vectors: Float32Array[], opts: SetOptions | undefined): void {
  try {
    cache.setMany(texts, vectors, opts);
  } catch (e) {
    if (e instanceof EmbeddingCacheError && (e.code === 'ERR_DIMENSION_MISMATCH' || e.code === 'ERR_INVALID_VECTOR' || e.code === 'ERR_VECTOR_TOO_LARGE')) {
      throw embedFailed(`the cache refused embed()'s vectors: ${e.message}`, e);
    }
    throw e;
  }
}
