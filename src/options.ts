/**
 * Options of EmbeddingCache.open(), their defaults and their validation. Every bad option throws
 * at open with a message that names the option and says how to fix it.
 */
import { connectSpec, isRedisClient } from './remote/client.js';
import type { RemoteSettings } from './remote/tier.js';

/** Spill tier (LMDB) options; see the README's "Spill tier" section. */
/** Which entry: the model that made the vector and an optional chunk id, with the text. */
export interface KeyOptions {
  /** Model name; a model's vectors all have one dimension. Default: 'default'. */
  model?: string;
  /** Your id for the chunk (document id + offset, say). Same text, other chunk id: another entry. */
  chunkId?: string;
}

export interface SetOptions extends KeyOptions {
  /** Time to live of this entry in ms (0 = never expires). Default: the cache's ttlMs. */
  ttlMs?: number;
}

export interface GetOrComputeOptions extends SetOptions {
  /** Most texts per embed() call. Default: 128. */
  batchSize?: number;
  /**
   * How long to wait for a text another caller is embedding before taking it over and
   * embedding it here: from 0 to 2^30 ms (about 12 days). Also the lease of this call's own
   * claims (at least 1 s), renewed before each batch. Default: 30 000 ms.
   */
  waitTimeoutMs?: number;
}

export interface SpillOptions {
  /** Folder (created if missing) holding the LMDB file. Every thread and process that opens or attaches uses this path. */
  path: string;
  /** Bound on the live data in the file, in bytes; beyond it the oldest records go first. Default: 4 GiB. */
  maxBytes?: number;
  /**
   * Write every `set` behind to disk too (not only evictions), so that after `flush()` or
   * `close()` a new process opening the same path serves every entry. Default: false.
   */
  persist?: boolean;
}

/**
 * A node-redis client (`createClient()`) or cluster (`createCluster()`) you created, connected or
 * not. Typed loosely so that any module or script configuration of yours fits.
 */
export interface RemoteClient {
  sendCommand(...args: never[]): Promise<unknown>;
  duplicate(...args: never[]): unknown;
}

/** The shared Redis tier; see the README's "Fleet" section. */
export interface RemoteOptions {
  /** redis://[user:password@]host:port[/db] or rediss:// (TLS). Give this or client. */
  url?: string;
  /**
   * A client or cluster of yours (for TLS files, ACLs, a cluster, your own retry settings). The
   * cache never closes it. Attached threads connect with its plain settings (functions dropped).
   */
  client?: RemoteClient;
  /** Prefix of every key in Redis; caches sharing a prefix share entries. Default: 'embedcache'. */
  prefix?: string;
  /** Expiry of every value written to Redis, in ms (0: only the entry's own TTL). Default: 0. */
  ttlMs?: number;
  /** Longest wait for one Redis call before going on without it, in ms. Default: 500. */
  timeoutMs?: number;
  /**
   * How long a machine's claim on a text it is embedding (getOrCompute) holds before others may
   * take it over, in ms; renewed while the embedding runs. Default: 10 000.
   */
  leaseMs?: number;
  /**
   * Your secret (at least 16 bytes, from your own secret store): the fleet's key secret is
   * derived from it instead of being created in Redis, so a party that can read Redis cannot
   * predict keys. Every machine of the fleet must pass the same one.
   */
  secret?: string | Uint8Array;
}

export interface CacheOptions {
  /**
   * Most entries held in memory at once. Past it, `set` evicts (see Design: eviction).
   * Default: no count bound (only `maxBytes` bounds the cache).
   */
  maxEntries?: number;
  /**
   * Hard bound on every byte the cache allocates in shared memory: the hash index, entry
   * metadata and vectors. Memory is committed lazily, 256 KiB at a time, up to this bound.
   * Default: 512 MiB. Minimum: enough for the fixed index plus one page (about 1 MiB).
   */
  maxBytes?: number;
  /** Default time to live of an entry in milliseconds; 0 means entries never expire. Default: 0. */
  ttlMs?: number;
  /**
   * Key hash. 'xxhash' (default): XXH3-128 seeded from a per-cache secret, fast. 'sha256':
   * HMAC-SHA-256 under that secret, several times slower (a set of a ~1 KB text: 3–5×); use it
   * when texts come from users who could craft collisions.
   */
  keyHash?: 'xxhash' | 'sha256';
  /**
   * How long a thread waits on a write lock whose holder makes no progress before it decides the
   * holder died (a terminated worker) and takes the lock over, repairing the one entry the holder
   * was writing. Default: 1000 ms. Lower it in tests; never below the longest pause you expect
   * from a live thread.
   */
  lockTimeoutMs?: number;
  /**
   * Expected number of entries, used to size the hash index (fixed at open). Default: maxEntries
   * if set, else maxBytes / 2 KiB. Too small only makes chains longer; too large costs 4 bytes a slot.
   */
  expectedEntries?: number;
  /**
   * Commit and touch shared memory ahead of the inserts on a helper thread, once the cache holds
   * more than 64 MiB, so the kernel's zero-filling of new memory runs beside a bulk load instead
   * of inside it. Up to min(16 MiB, a quarter of the pages in use) is committed ahead (counted
   * in memoryBytes, never past maxBytes); the thread ends when idle for 10 s. Default: true.
   */
  prefault?: boolean;
  /** An LMDB spill tier for evicted entries (and, with persist, every entry). Default: none. */
  spill?: SpillOptions;
  /** A shared Redis tier for a fleet of machines. Default: none. */
  remote?: RemoteOptions;
}

export interface ResolvedOptions {
  maxEntries: number;
  maxBytes: number;
  ttlMs: number;
  keyHash: 'xxhash' | 'sha256';
  lockTimeoutMs: number;
  expectedEntries: number;
  prefault: boolean;
  spill: Required<SpillOptions> | null;
  remote: RemoteSettings | null;
}

export const DEFAULT_MAX_BYTES = 512 * 1024 * 1024;
export const DEFAULT_LOCK_TIMEOUT_MS = 1000;
export const DEFAULT_SPILL_MAX_BYTES = 4 * 1024 ** 3;
/** Far above any real cache; keeps entry ids and counters inside 31 bits. */
export const MAX_ENTRIES_LIMIT = 2 ** 30;
/** maxBytes ceiling: 64 GiB (the arena addresses 2^18 pages of 256 KiB). */
export const MAX_BYTES_LIMIT = 64 * 1024 ** 3;

const KNOWN = new Set([
  'maxEntries',
  'maxBytes',
  'ttlMs',
  'keyHash',
  'lockTimeoutMs',
  'expectedEntries',
  'prefault',
  'spill',
  'remote',
]);
const REMOTE_KNOWN = new Set(['url', 'client', 'prefix', 'ttlMs', 'timeoutMs', 'leaseMs', 'secret']);
export const DEFAULT_REMOTE_TIMEOUT_MS = 500;
export const DEFAULT_LEASE_MS = 10_000;
const SPILL_KNOWN = new Set(['path', 'maxBytes', 'persist']);

function positiveInteger(name: string, value: unknown, max: number, fix: string): number {
  if (typeof value !== 'number') {
    throw new TypeError(`options.${name} must be a number, got ${typeof value}. ${fix}`);
  }
  if (Number.isNaN(value)) throw new RangeError(`options.${name} must be a number, got NaN. ${fix}`);
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new RangeError(`options.${name} must be an integer from 1 to ${max}, got ${value}. ${fix}`);
  }
  return value;
}

export function resolveOptions(input: CacheOptions | undefined, minBytes: number): ResolvedOptions {
  if (input !== undefined && (typeof input !== 'object' || input === null || Array.isArray(input))) {
    throw new TypeError('EmbeddingCache.open(options): options must be an object or undefined.');
  }
  const o = input ?? {};
  for (const key of Object.keys(o)) {
    if (!KNOWN.has(key)) {
      throw new TypeError(
        `options.${key} is not an option of EmbeddingCache.open(). Known options: ${[...KNOWN].join(', ')}.`,
      );
    }
  }

  const maxEntries =
    o.maxEntries === undefined
      ? MAX_ENTRIES_LIMIT
      : positiveInteger(
          'maxEntries',
          o.maxEntries,
          MAX_ENTRIES_LIMIT,
          'Pass the most entries to hold in memory, or leave it out to bound by maxBytes only.',
        );

  let maxBytes = DEFAULT_MAX_BYTES;
  if (o.maxBytes !== undefined) {
    maxBytes = positiveInteger(
      'maxBytes',
      o.maxBytes,
      MAX_BYTES_LIMIT,
      'Pass a byte count such as 256 * 1024 ** 2.',
    );
    if (maxBytes < minBytes) {
      throw new RangeError(
        `options.maxBytes is ${maxBytes} bytes, below the minimum of ${minBytes} (the fixed index plus one 256 KiB page). Raise maxBytes or lower expectedEntries.`,
      );
    }
  }

  let ttlMs = 0;
  if (o.ttlMs !== undefined) {
    if (typeof o.ttlMs !== 'number' || !Number.isFinite(o.ttlMs) || o.ttlMs < 0) {
      throw new RangeError(
        `options.ttlMs must be a finite number of milliseconds >= 0 (0 = no expiry), got ${String(o.ttlMs)}.`,
      );
    }
    ttlMs = o.ttlMs;
  }

  const keyHash = o.keyHash ?? 'xxhash';
  if (keyHash !== 'xxhash' && keyHash !== 'sha256') {
    throw new RangeError(`options.keyHash must be 'xxhash' or 'sha256', got ${JSON.stringify(keyHash)}.`);
  }

  let lockTimeoutMs = DEFAULT_LOCK_TIMEOUT_MS;
  if (o.lockTimeoutMs !== undefined) {
    if (typeof o.lockTimeoutMs !== 'number' || !Number.isFinite(o.lockTimeoutMs) || o.lockTimeoutMs < 10) {
      throw new RangeError(
        `options.lockTimeoutMs must be a number of milliseconds >= 10, got ${String(o.lockTimeoutMs)}.`,
      );
    }
    lockTimeoutMs = o.lockTimeoutMs;
  }

  const expectedEntries =
    o.expectedEntries === undefined
      ? Math.min(maxEntries, Math.max(1024, Math.floor(maxBytes / 2048)))
      : positiveInteger(
          'expectedEntries',
          o.expectedEntries,
          MAX_ENTRIES_LIMIT,
          'Pass roughly how many entries you expect to hold.',
        );

  let spill: Required<SpillOptions> | null = null;
  if (o.spill !== undefined) {
    const s = o.spill;
    if (typeof s !== 'object' || s === null)
      throw new TypeError('options.spill must be an object like { path: "./.embedcache" }.');
    for (const key of Object.keys(s)) {
      if (!SPILL_KNOWN.has(key)) {
        throw new TypeError(
          `options.spill.${key} is not a spill option. Known: ${[...SPILL_KNOWN].join(', ')}.`,
        );
      }
    }
    if (typeof s.path !== 'string' || s.path.length === 0) {
      throw new TypeError(
        'options.spill.path must be a non-empty string: the folder that holds the LMDB file.',
      );
    }
    const spillMax =
      s.maxBytes === undefined
        ? DEFAULT_SPILL_MAX_BYTES
        : positiveInteger('spill.maxBytes', s.maxBytes, 2 ** 52, 'Pass a byte bound for the spill file.');
    if (s.persist !== undefined && typeof s.persist !== 'boolean') {
      throw new TypeError(`options.spill.persist must be a boolean, got ${typeof s.persist}.`);
    }
    spill = { path: s.path, maxBytes: spillMax, persist: s.persist ?? false };
  }

  if (o.prefault !== undefined && typeof o.prefault !== 'boolean') {
    throw new TypeError(`options.prefault must be a boolean, got ${typeof o.prefault}.`);
  }
  const prefault = o.prefault ?? true;

  const remote = o.remote === undefined ? null : resolveRemote(o.remote);
  return { maxEntries, maxBytes, ttlMs, keyHash, lockTimeoutMs, expectedEntries, prefault, spill, remote };
}

function msOption(name: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `options.remote.${name} must be an integer number of milliseconds from ${min} to ${max}, got ${String(value)}.`,
    );
  }
  return value;
}

function resolveRemote(r: RemoteOptions): RemoteSettings {
  if (typeof r !== 'object' || r === null || Array.isArray(r))
    throw new TypeError("options.remote must be an object like { url: 'redis://127.0.0.1:6379' }.");
  for (const key of Object.keys(r)) {
    if (!REMOTE_KNOWN.has(key)) {
      throw new TypeError(
        `options.remote.${key} is not a remote option. Known: ${[...REMOTE_KNOWN].join(', ')}.`,
      );
    }
  }
  if ((r.url === undefined) === (r.client === undefined)) {
    throw new TypeError(
      'options.remote needs exactly one of url (a redis:// or rediss:// URL) and client (a node-redis client or cluster you created).',
    );
  }
  if (r.url !== undefined && (typeof r.url !== 'string' || !/^rediss?:\/\//.test(r.url))) {
    throw new TypeError(
      `options.remote.url must be a redis:// or rediss:// URL such as 'redis://127.0.0.1:6379', got ${JSON.stringify(r.url)}.`,
    );
  }
  if (r.client !== undefined && !isRedisClient(r.client)) {
    throw new TypeError(
      'options.remote.client must be a node-redis client or cluster (from createClient() or createCluster() of the redis package).',
    );
  }
  const prefix = r.prefix ?? 'embedcache';
  if (typeof prefix !== 'string' || !/^[A-Za-z0-9_.:-]{1,64}$/.test(prefix)) {
    throw new RangeError(
      `options.remote.prefix must be 1-64 characters of letters, digits and _ . : - (no braces: they are Redis Cluster hash tags), got ${JSON.stringify(prefix)}.`,
    );
  }
  let derived: Uint8Array | null = null;
  if (r.secret !== undefined) {
    const bytes = typeof r.secret === 'string' ? new TextEncoder().encode(r.secret) : r.secret;
    if (!(bytes instanceof Uint8Array) || bytes.length < 16) {
      throw new RangeError(
        'options.remote.secret must be a string or Uint8Array of at least 16 bytes (the same on every machine of the fleet).',
      );
    }
    derived = bytes.slice();
  }
  return {
    connect: connectSpec(r.url, r.client),
    prefix,
    ttlMs: msOption('ttlMs', r.ttlMs, 0, 2 ** 40, 0),
    timeoutMs: msOption('timeoutMs', r.timeoutMs, 1, 60_000, DEFAULT_REMOTE_TIMEOUT_MS),
    leaseMs: msOption('leaseMs', r.leaseMs, 100, 2 ** 30, DEFAULT_LEASE_MS),
    derived,
  };
}
