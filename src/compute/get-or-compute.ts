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
import { argumentError, describe, EmbeddingCacheError } from '../errors.js';
import type { GetOrComputeOptions, KeyOptions, SetOptions } from '../options.js';
import { ST_COMPUTE_EMBEDDED, ST_COMPUTE_TEXTS } from '../memory/layout.js';
import { parseVector } from '../vectors.js';
import { FleetRound, type FleetFlight } from './fleet-flight.js';
import { BUSY, CLAIMED, HELD, type InflightTable } from './inflight.js';

/** Turns texts into vectors: one vector per text, in order. Sync or async. */
export type EmbedFunction = (
  missing: string[],
) => Promise<ArrayLike<ArrayLike<number>>> | ArrayLike<ArrayLike<number>>;

/**
 * @internal What getOrCompute needs from a cache, by key: every text is hashed once (hashAll)
 * and the keys are used for every later step. The cache implements it and owns `claims`.
 */
export interface ComputeHost {
  /** The cache's single-flight table (this instance's view, with its owner token). */
  readonly claims: InflightTable;
  /** Validates opts (model, chunkId, ttlMs) for op; throws like get()/set(). */
  checkOptions(opts: SetOptions | undefined, op: string): void;
  /** Keys of texts as 4 int32 words each; ERR_INVALID_TEXT names the index of a non-string. */
  hashAll(texts: readonly string[], opts: KeyOptions | undefined, op: string): Int32Array;
  /** get() of keys[0…4n) through every synchronous tier, counting hits and misses. */
  readMany(keys: Int32Array, n: number, opts: KeyOptions | undefined): (Float32Array | undefined)[];
  /** The vector at keys[at…], or undefined; a hit counts, a miss counts only with countMiss. */
  read(
    keys: Int32Array,
    at: number,
    opts: KeyOptions | undefined,
    countMiss: boolean,
  ): Float32Array | undefined;
  /** Stores vectors[i] under keys[4·idx[i]…] (vectors already validated, all one dimension). */
  writeMany(
    keys: Int32Array,
    idx: readonly number[],
    vectors: readonly Float32Array[],
    opts: SetOptions | undefined,
  ): void;
  /** Resolves once this thread's queued disk writes are durable (at once without a spill tier). */
  flush(): Promise<void>;
  /** The remote tier's part (fleet-flight.ts), or null without one. */
  readonly fleet: FleetFlight | null;
  /** Counts texts asked for (ST_COMPUTE_TEXTS) or sent to embed() (ST_COMPUTE_EMBEDDED). */
  count(counter: number, n: number): void;
}

export const DEFAULT_BATCH_SIZE = 128;
export const DEFAULT_WAIT_TIMEOUT_MS = 30_000;
/**
 * Longest waitTimeoutMs (and so claim lease): claim deadlines are int32 milliseconds compared by
 * wrapping difference, exact below 2^31 ms; half of that leaves room for clock skew between
 * threads' reads. About 12.4 days.
 */
export const MAX_WAIT_TIMEOUT_MS = 2 ** 30;
/** Shortest claim lease: a claim must survive ordinary scheduling hiccups of its owner. */
const MIN_LEASE_MS = 1000;

function badOption(rule: string, got: unknown): EmbeddingCacheError {
  return argumentError('getOrCompute', rule, got);
}

/**
 * Returns one Float32Array per text, in input order: hits from the cache, misses embedded (each
 * unique text once, across concurrent calls and threads), stored, and returned.
 * Rejects with ERR_EMBED_FAILED if `embed` throws or returns the wrong count or bad vectors.
 */
export async function computeMany(
  host: ComputeHost,
  texts: readonly string[],
  embed: EmbedFunction,
  opts?: GetOrComputeOptions,
): Promise<Float32Array[]> {
  if (!Array.isArray(texts)) throw badOption('texts must be an array of strings', texts);
  if (typeof embed !== 'function')
    throw badOption('embed must be a function (texts: string[]) => vectors', embed);
  let batchSize = DEFAULT_BATCH_SIZE;
  let waitMs = DEFAULT_WAIT_TIMEOUT_MS;
  if (opts !== undefined) {
    if (typeof opts !== 'object' || opts === null)
      throw new TypeError('getOrCompute(): options must be an object like { model, batchSize }.');
    if (opts.batchSize !== undefined) {
      batchSize = opts.batchSize;
      if (typeof batchSize !== 'number' || !Number.isInteger(batchSize) || batchSize < 1) {
        throw new RangeError(
          `options.batchSize must be a positive integer (texts per embed call), got ${describe(batchSize)}.`,
        );
      }
    }
    if (opts.waitTimeoutMs !== undefined) {
      waitMs = opts.waitTimeoutMs;
      if (typeof waitMs !== 'number' || !(waitMs >= 0 && waitMs <= MAX_WAIT_TIMEOUT_MS)) {
        throw new RangeError(
          `options.waitTimeoutMs must be a number of milliseconds from 0 to ${MAX_WAIT_TIMEOUT_MS} (about 12 days), got ${describe(waitMs)}. ` +
            'A waiter whose claimer is alive is released as soon as the vector is stored; the timeout only bounds the wait for a dead one.',
        );
      }
    }
  }
  host.checkOptions(opts, 'getOrCompute');
  const n = texts.length;
  const keys = host.hashAll(texts, opts, 'getOrCompute');
  host.count(ST_COMPUTE_TEXTS, n);
  const out = host.readMany(keys, n, opts);
  for (let i = 0; i < n; i++) {
    if (out[i] === undefined) return fillMisses(host, texts, keys, out, i, embed, opts, batchSize, waitMs);
  }
  return out as Float32Array[];
}

/** With a remote tier: the local misses from `first` on, read from Redis in one round trip. */
async function fetchFleet(
  fleet: FleetFlight,
  keys: Int32Array,
  out: (Float32Array | undefined)[],
  first: number,
  opts: KeyOptions | undefined,
): Promise<void> {
  const at: number[] = [];
  for (let p = first; p < out.length; p++) if (out[p] === undefined) at.push(p);
  const got = await fleet.fetch(keys, at, opts);
  for (let i = 0; i < at.length; i++) if (got[i] !== undefined) out[at[i]!] = got[i];
}

async function fillMisses(
  host: ComputeHost,
  texts: readonly string[],
  keys: Int32Array,
  out: (Float32Array | undefined)[],
  first: number,
  embed: EmbedFunction,
  opts: GetOrComputeOptions | undefined,
  batchSize: number,
  waitMs: number,
): Promise<Float32Array[]> {
  if (host.fleet !== null) {
    await fetchFleet(host.fleet, keys, out, first, opts);
    while (first < texts.length && out[first] !== undefined) first++;
    if (first === texts.length) return out as Float32Array[];
  }
  // Dedupe the misses: unique[u] is a text, at[u] the position of its key in `keys`,
  // uniqueOf[p - first] the unique index of position p.
  const index = new Map<string, number>();
  const unique: string[] = [];
  const at: number[] = [];
  const uniqueOf = new Int32Array(texts.length - first).fill(-1);
  for (let p = first; p < texts.length; p++) {
    if (out[p] !== undefined) continue;
    const t = texts[p]!;
    let u = index.get(t);
    if (u === undefined) {
      u = unique.length;
      unique.push(t);
      at.push(p);
      index.set(t, u);
    }
    uniqueOf[p - first] = u;
  }
  const vectors = await resolveUnique(host, unique, keys, at, embed, opts, batchSize, waitMs);
  // Embeddings are paid for: the call resolves once the ones it stored are durable too (with a
  // spill tier; otherwise at once). It also drains this thread's queue where the event loop
  // would not turn (a Piscina worker parks between tasks).
  await host.flush();
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

/**
 * Vectors for `unique` (distinct texts that all missed; the key of unique[u] is at position
 * at[u] of `keys`), embedding only those no one else is computing.
 *
 * Rounds. Each round claims at most a quarter of the claim table (so one large call cannot
 * fill it and lock other callers out), embeds what it claimed, releases, and only then waits
 * for texts others hold. A text whose claim window is full waits for the next round like a
 * busy one: single-flight holds for any batch size. Only a text that could not be claimed for
 * waitTimeoutMs is embedded without a claim (counted in the table's `full` counter).
 */
async function resolveUnique(
  host: ComputeHost,
  unique: string[],
  keys: Int32Array,
  at: readonly number[],
  embed: EmbedFunction,
  opts: GetOrComputeOptions | undefined,
  batchSize: number,
  waitMs: number,
): Promise<Float32Array[]> {
  const m = unique.length;
  const table = host.claims;
  const lease = Math.max(MIN_LEASE_MS, waitMs);
  const perRound = Math.max(1, table.slots >> 2);
  const vectors = new Array<Float32Array | undefined>(m);
  // Our claim per text (slot, state); slot -1 = none. Held: the claim we wait for.
  const mySlot = new Int32Array(m).fill(-1);
  const myState = new Int32Array(m);
  const heldSlot = new Int32Array(m);
  const heldState = new Int32Array(m);
  /** Texts whose wait timed out and that no claim could be had for: computed without one. */
  const forced = new Uint8Array(m);
  const res = new Int32Array(2);
  const release = (u: number): void => {
    if (mySlot[u]! >= 0) table.release(mySlot[u]!, myState[u]!);
    mySlot[u] = -1;
  };
  const fleet = host.fleet === null ? null : new FleetRound(host.fleet, keys, at, opts, m);
  const found = (u: number, v: Float32Array): void => {
    vectors[u] = v;
    release(u);
  };

  let todo: number[] = Array.from({ length: m }, (_, u) => u);
  const deadline = Date.now() + waitMs;
  let waitUntil = 0;
  try {
    while (todo.length > 0) {
      const mine: number[] = [];
      const held: number[] = [];
      const next: number[] = [];
      let claimed = 0;
      for (const u of todo) {
        if (mySlot[u]! >= 0 || forced[u] === 1) {
          mine.push(u);
          continue;
        }
        if (claimed >= perRound) {
          next.push(u);
          continue;
        }
        const r = table.claim(keys, at[u]! * 4, lease, res, 0);
        if (r === CLAIMED) {
          mySlot[u] = res[0]!;
          myState[u] = res[1]!;
          mine.push(u);
          claimed++;
        } else if (r === HELD) {
          heldSlot[u] = res[0]!;
          heldState[u] = res[1]!;
          held.push(u);
        } else if (r === BUSY || Date.now() < deadline) {
          next.push(u); // BUSY, or FULL: try again next round, once claims have been released
        } else {
          forced[u] = 1; // FULL for waitTimeoutMs: compute without single-flight
          mine.push(u);
        }
      }

      // Stored by someone else since our lookup? Then it is a hit, not a model call.
      let need: number[] = [];
      for (const u of mine) {
        const v = host.read(keys, at[u]! * 4, opts, false);
        if (v === undefined) {
          need.push(u);
          continue;
        }
        vectors[u] = v;
        release(u);
      }
      // Across machines: lease what we claimed, and wait later for what other machines hold.
      const fleetHeld: number[] = [];
      if (fleet !== null && need.length > 0) {
        // A few batches' worth per round, so the machines of a fleet share a cold corpus
        // instead of one leasing all of it; the rest waits for the next round, still claimed.
        need = await fleet.leaseAndRecheck(need, found, fleetHeld, next, 2 * batchSize);
      }
      // Renewed while the model runs, not only between batches: one slow batch must not outlive
      // the leases of the texts it carries.
      const stopRenewing = fleet?.keepLeased(need);
      let renewed = Date.now();
      try {
        for (let b = 0; b < need.length; b += batchSize) {
          const batch = need.slice(b, b + batchSize);
          if (Date.now() - renewed > lease / 4) {
            // Long runs of batches: keep the claims still ahead of us fresh.
            renewed = Date.now();
            for (let i = b; i < need.length; i++) {
              const u = need[i]!;
              if (mySlot[u]! >= 0) table.renew(mySlot[u]!, myState[u]!, lease);
            }
          }
          const batchTexts = batch.map((u) => unique[u]!);
          host.count(ST_COMPUTE_EMBEDDED, batchTexts.length);
          const got = await callEmbed(embed, batchTexts);
          const vs = checkVectors(got, batchTexts.length);
          storeBatch(
            host,
            keys,
            batch.map((u) => at[u]!),
            vs,
            opts,
          );
          // In Redis before other machines' waiters are let go (their lease ends after this).
          await fleet?.publish(batch, vs);
          for (let i = 0; i < batch.length; i++) {
            const u = batch[i]!;
            vectors[u] = vs[i]!;
            release(u);
          }
        }
      } finally {
        stopRenewing?.();
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
        const v = host.read(keys, at[u]! * 4, opts, true);
        if (v !== undefined) {
          vectors[u] = v;
          continue;
        }
        // Its computer failed (or its entry was evicted at once): try again, ourselves if out of time.
        if (Date.now() >= waitUntil) forced[u] = 1;
        next.push(u);
      }
      // Then the texts other machines are embedding (still holding our local claims on them, so
      // this machine's other callers wait for us rather than ask Redis too).
      if (fleet !== null && fleetHeld.length > 0) {
        if (waitUntil === 0) waitUntil = Date.now() + waitMs;
        for (const u of fleetHeld) if (mySlot[u]! >= 0) table.renew(mySlot[u]!, myState[u]!, lease);
        for (const u of await fleet.wait(fleetHeld, waitUntil, found)) next.push(u);
      }
      if (next.length > 0 && held.length === 0 && mine.length === 0) await sleep(1); // only busy or full: yield
      todo = next;
    }
  } catch (e) {
    // Whatever failed (the model, the cache), no claim of ours outlives this call: waiters wake,
    // miss, and compute themselves.
    for (let u = 0; u < m; u++) release(u);
    await fleet?.releaseAll();
    throw e;
  }
  return vectors as Float32Array[];
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function embedFailed(message: string, cause: unknown): EmbeddingCacheError {
  return new EmbeddingCacheError(
    'ERR_EMBED_FAILED',
    `getOrCompute(): ${message} Nothing was stored for these texts; calling again retries them.`,
    { cause },
  );
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
  return embedFailed(
    `embed() returned a bad vector: vector ${i} ${why}; every vector must be a non-empty array of finite numbers, all of one length.`,
    inner,
  );
}

/** Validates embed()'s answer for `count` texts and copies it into Float32Arrays this call owns. */
function checkVectors(got: unknown, count: number): Float32Array[] {
  if (typeof got !== 'object' || got === null || typeof (got as ArrayLike<unknown>).length !== 'number') {
    throw embedFailed(
      `embed() returned ${describe(got)}; it must return an array of ${count} vectors.`,
      new TypeError(`expected an array of ${count} vectors, got ${describe(got)}`),
    );
  }
  const list = got as ArrayLike<unknown>;
  if (list.length !== count) {
    throw embedFailed(
      `embed() returned ${list.length} vectors for ${count} texts; it must return one vector per text, in order.`,
      new RangeError(`expected ${count} vectors, got ${list.length}`),
    );
  }
  const out = new Array<Float32Array>(count);
  for (let i = 0; i < count; i++) {
    const f = parseVector(list[i], true);
    if (typeof f === 'string') throw badVector(i, f);
    if (i > 0 && f.length !== out[0]!.length)
      throw badVector(i, `has ${f.length} dimensions where vector 0 has ${out[0]!.length}`);
    out[i] = f;
  }
  return out;
}

/** Stores a batch, with a vector the cache rejects (e.g. another dimension than the model's) reported as the model's fault. */
function storeBatch(
  host: ComputeHost,
  keys: Int32Array,
  idx: readonly number[],
  vectors: Float32Array[],
  opts: SetOptions | undefined,
): void {
  try {
    host.writeMany(keys, idx, vectors, opts);
  } catch (e) {
    if (
      e instanceof EmbeddingCacheError &&
      (e.code === 'ERR_DIMENSION_MISMATCH' ||
        e.code === 'ERR_INVALID_VECTOR' ||
        e.code === 'ERR_VECTOR_TOO_LARGE')
    ) {
      throw embedFailed(`the cache refused embed()'s vectors: ${e.message}`, e);
    }
    throw e;
  }
}
