/**
 * Types of the spill tier's surface, kept apart from tier.ts so that the cache can name them
 * without loading LMDB.
 */

export type SpillKeyHash = 'xxhash' | 'sha256';

/** How the cache opens a spill tier. One instance per thread; every thread passes the same path. */
export interface SpillTierOptions {
  /** Folder (created if missing) that holds the LMDB environment (data.mdb, lock.mdb). */
  path: string;
  /**
   * Bound on the live data in the file, in bytes: the pages that records and their indexes
   * occupy. Past it, expired records go first, then the oldest-written. Default: 4 GiB.
   * The file itself can be larger by LMDB's free pages, which it reuses before growing.
   */
  maxBytes?: number;
  /** Recorded for the cache, which enqueues every set when true; the tier itself ignores it. */
  persist?: boolean;
  /** The cache's key hash; checked against the file's. */
  keyHash: SpillKeyHash;
  /** The cache's 32-byte key seed; used only when the file is new, else the file's seed wins. */
  seed: Uint8Array;
  /**
   * Called as records become durable (`writes`) and as failures are counted (`errors`), so the
   * cache can add them to its shared, all-thread counters. Optional.
   */
  onCount?: (kind: 'writes' | 'errors', n: number) => void;
}

/** One entry handed to the disk. */
export interface SpillRecord {
  /** The 16-byte content key (already covers the model). Copied before enqueue returns. */
  key: Uint8Array;
  /** Model name. */
  model: string;
  /** The vector. Copied before enqueue returns: the caller may reuse its buffer at once. */
  vector: Float32Array;
  /** Date.now() at the cache's set. */
  createdMs: number;
  /** Absolute expiry in ms since the epoch; 0 = never. */
  expiresMs: number;
}

/** A record read back from disk: a fresh vector the caller owns. */
export interface SpillHit {
  vector: Float32Array;
  createdMs: number;
  expiresMs: number;
}

export interface SpillStats {
  /** Records in the file, across every thread and process that uses it (includes generations not yet swept). */
  entries: number;
  /** Bytes of pages that records and their indexes occupy in the file (what maxBytes bounds). */
  bytes: number;
  /** Records this instance wrote (committed and durable). */
  writes: number;
  /** Reads by this instance that returned a record. */
  hits: number;
  /** Reads by this instance that found nothing, or only an expired record. */
  misses: number;
  /** Failed writes (counted per record) and failed or corrupt reads of this instance. */
  errors: number;
}

/** What `verify()` found: an O(n) scan for tests and diagnostics. */
export interface SpillVerifyReport {
  /** Records in the file. */
  records: number;
  /** Records whose value is not a whole record of this format, or disagrees with its key. */
  corrupt: number;
  /** Records under an old generation of their model (unreachable, waiting for the sweep). */
  unreachable: number;
  /** Records with no age index entry (they could never be evicted by maxBytes). */
  missingAge: number;
  /** Age or expiry index entries that point at no record or at an older copy of it. */
  staleIndex: number;
}
