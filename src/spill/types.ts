/**
 * Types of the spill tier's surface, kept apart from tier.ts so that the cache can name them
 * without loading LMDB. At the end, the few internal types the spill modules share (type-only
 * imports of lmdb, so naming them loads nothing either).
 */
import type { Database, RootDatabase } from 'lmdb';

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
  onCount?: (kind: SpillCount, n: number) => void;
  /** How the tier keeps in step with the other threads of its cache (tiers.ts). Optional. */
  links?: SpillLinks;
}

/**
 * What a tier shares with the other threads of its cache, so that a busy thread never acts on
 * an old view of the disk: a count of commits by any thread (a lookup renews its read snapshot
 * when it moved), and a hook per settled op (the cache's count of ops in flight per bucket).
 */
export interface SpillLinks {
  /** A number that changes after every commit of any thread's batch. */
  commits(): number;
  /** This tier committed a batch. */
  committed(): void;
  /** An op queued with `tag` (>= 0) has settled: written, superseded, failed or dropped. */
  settled(tag: number): void;
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

/** What the tier counts into the cache's shared counters. */
export type SpillCount = 'writes' | 'errors' | 'superseded';

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
  /**
   * Queued writes and deletes dropped because an operation on their key stamped later (by any
   * thread) had reached the disk first: the later operation wins, as it did in memory.
   */
  superseded: number;
  /**
   * The cache's hand-off ring (every thread): `overflows`, ops that found it full and waited in
   * their own thread's queue instead; `takeovers`, claims of ops taken from a thread that died
   * or stalled while committing them. Absent for a tier used without a cache.
   */
  handoff?: { overflows: number; takeovers: number };
}

/** What `verify()` found: an O(n) scan for tests and diagnostics. */
export interface SpillVerifyReport {
  /** Records holding a vector. */
  records: number;
  /** Tombstones of deletes (records without a vector, until they expire). */
  tombstones: number;
  /** Records whose value is not a whole record of this format, or disagrees with its key. */
  corrupt: number;
  /** Records under an old generation of their model (unreachable, waiting for the sweep). */
  unreachable: number;
  /** Records with no age index entry (they could never be evicted by maxBytes). */
  missingAge: number;
  /** Age or expiry index entries that point at no record or at an older copy of it. */
  staleIndex: number;
}

// ---------------------------------------------------------------------------------------------
// Internal: shared by the spill modules (tier.ts composes them), never by the cache.

/** A database with binary keys and values (records, age, expiry). */
export type Bin = Database<Uint8Array, Uint8Array>;

/** The LMDB environment and its four databases, opened once by tier.ts. */
export interface SpillDbs {
  readonly root: RootDatabase<Uint8Array, Uint8Array>;
  readonly meta: Database<Uint8Array, string>;
  readonly records: Bin;
  readonly age: Bin;
  readonly expiry: Bin;
}

/** Counts `count` failures in stats().errors and warns once per instance; never throws. */
export type Fail = (what: string, err: unknown, count: number) => void;

/** An instance's lifecycle, owned by SpillTier and read by the parts it composes. */
export interface Lifecycle {
  /** close() has begun: no new writes or maintenance runs. */
  closing: boolean;
  /** The LMDB handle is (being) closed: nothing touches it any more. */
  closed: boolean;
}
