/**
 * Every offset and size of the shared memory, in one place.
 *
 * Two kinds of SharedArrayBuffer make up a cache:
 *
 *   control (fixed size, allocated at open)        arena[0..n) (growable, committed a page at a time)
 *   ┌──────────────┐                               ┌────────┬────────┬────────┬─────
 *   │ header       │ counters, secret, sizes       │ page 0 │ page 1 │ page 2 │ ...   256 KiB each
 *   │ classes      │ one per vector dimension      └────────┴────────┴────────┴─────
 *   │ models       │ name, dims, generation, live
 *   │ locks        │ striped write locks + intent      a page belongs to one dimension class:
 *   │ stats        │ a padded counter row per thread   ┌──────┬─────────┬──────────────┬──────────┐
 *   │ buckets      │ hash index: bucket → entry id     │header│ref bits │ entry meta   │ vectors  │
 *   └──────────────┘                                   └──────┴─────────┴──────────────┴──────────┘
 *
 * All offsets below are in 32-bit words (Int32Array / Float32Array indexes) unless a name ends
 * in _BYTES. Float64 fields (expiry) sit at even word offsets so a Float64Array over the same
 * buffer can address them as word/2.
 *
 * Why pages: one cache may hold several embedding models of different dimensions. A page holds
 * the entries (metadata and vectors side by side) of one dimension, so an entry is one id and
 * needs no separate vector allocator; pages are handed out lazily up to maxBytes and can move
 * between dimensions (see arena.ts, stealPage). Why growable buffers: every thread must see memory
 * committed by any other thread without a message; a growable SharedArrayBuffer grows in place
 * for all of them. Node 20 caps one at 4 GiB, so maxBytes above that uses several arenas.
 */

// ── Words shared by both kinds of buffer ────────────────────────────────────────────────────
/** Words per cache line: counters written by different threads sit a line apart. */
export const LINE_WORDS = 16;

// ── Control buffer: header ───────────────────────────────────────────────────────────────────
export const H_MAGIC = 0;
export const H_LAYOUT_VERSION = 1;
/** Pages handed out so far (monotonic; a page never returns to "unassigned"). */
export const H_PAGES_USED = 2;
/** Monotonic source of lock-owner tokens, one per attached instance. */
export const H_TOKEN_SEQ = 3;
/** Number of registered models / dimension classes. */
export const H_MODEL_COUNT = 4;
export const H_CLASS_COUNT = 5;
/** Monotonic source of stats rows for attaching threads (taken modulo STAT_ROWS). */
export const H_ATTACH_SEQ = 6;
/** 1 once any entry has had a TTL: until then lookups skip reading the clock. */
export const H_TTL_USED = 7;
/** 32-byte per-cache key secret (8 words): xxhash seeds or the HMAC key. */
export const H_SECRET = 8;
export const SECRET_WORDS = 8;
/** Entries that hold a slot (claimed or live): bounded by maxEntries. Own cache line. */
export const H_OCCUPIED = 16;
/** Live entries of invalidated generations, not yet reclaimed. Own cache line. */
export const H_STALE = 32;
/**
 * Bumped (under every stripe lock) by each invalidateModel and clear: a promotion from disk
 * read before a bump must not be stored after it (store.ts, promote).
 */
export const H_DROPS = 33;
/**
 * The order-stamp clock (memory/stamps.ts): 64 bits at an even word, so a BigInt64Array over
 * the control buffer addresses it as H_STAMP / 2. On the H_STALE line, which is rarely written.
 */
export const H_STAMP = 34;
/** Dead-token ring of the write locks (lock.ts): a cursor, then DEAD_SLOTS tokens. */
export const H_DEAD_RING = 36;
/** Batches committed to the spill file by any thread: a reader renews its snapshot when it moved. */
export const H_DISK_COMMITS = 46;
/**
 * The fleet's clear() epoch as this machine knows it (remote/generations.ts): 64 bits at an even
 * word (a millisecond time), part of every remote key, raised (never lowered) by whichever
 * thread learns a bump first.
 */
export const H_FLEET_EPOCH = 48;
/**
 * Which attached instance keeps the fleet view current (remote/generations.ts): its lock-owner
 * token (0: none), and the second (since the epoch, wrapped to int32) it last did so. Another
 * instance takes over once that is FLEET_LEAD_STALE_S old (the leader closed or died).
 */
export const H_FLEET_LEADER = 47;
export const H_FLEET_BEAT = 50;
/**
 * The page prefaulter (prefault.ts): the second (since the epoch, wrapped to int32) its thread
 * last reported alive; 0: none runs; PREFAULT_OFF (-1): never again (all pages committed, or
 * the thread could not start). Written at most once a second (the line is the CAR words' too).
 */
export const H_PREFAULT_BEAT = 51;
/** Tokens the dead-token rings remember (a ring of them is 1 + DEAD_SLOTS words). */
export const DEAD_SLOTS = 8;
/**
 * Replacement policy (CAR, car.ts): the target size p of T1, a Float64 at an even word (words
 * 52-53; read and written plainly, clamped on every read). Its own cache line with the ghost
 * words (52-63): written by inserts and evictions, never by a read. (|T1| and |T2| are per class,
 * C_T1 and C_T2.)
 */
export const H_CAR_P = 52;
/**
 * Ghost lists B1 and B2 (ghosts.ts): per list a head and a tail (monotonic 31-bit sequence
 * numbers: the ring cells in [tail, head) are the list, oldest first) and the number of ghosts in
 * it (holes left by ghost hits not counted). List l's words are H_GHOSTS + GH_WORDS * l + GH_*.
 */
export const H_GHOSTS = 56;
export const GH_WORDS = 3;
export const GH_HEAD = 0;
export const GH_TAIL = 1;
export const GH_COUNT = 2;
export const HEADER_WORDS = 64;
export const MAGIC = 0x45434348; // "ECCH"
/**
 * 2: drop counter, order-stamp clock, dead-token ring, disk commits (header words 33-46); a
 * pending-write word per bucket. 3: two-line stat rows (remote counters), fleet epoch and
 * per-model fleet generation. 4: CAR — policy and ghost words (header 52-61), the T2 bit plane in
 * place of the use counter's high plane, the ghost directory after the pending words. 5: the
 * prefaulter's beat (header word 51). 6: the T2 bit plane interleaved word by word with the
 * reference plane; ghost sets of 8 ways in 64 bytes, one set per key.
 */
export const LAYOUT_VERSION = 6;

// ── Control buffer: dimension classes ────────────────────────────────────────────────────────
export const MAX_CLASSES = 32;
export const CLASS_WORDS = LINE_WORDS;
export const C_DIMS = 0;
/** Entry slots per page for this dimension. */
export const C_SLOTS = 1;
/** Page that fresh slots are bumped from (-1: none yet). */
export const C_CUR_PAGE = 2;
/** Pages owned by the class. */
export const C_PAGES = 3;
/**
 * Live entries of the class in T1 and in T2 (car.ts; relaxed Atomics.add, clamped on read). The
 * policy's global |T1| and |T2| are their sums; the sweep also reads them to never hunt a list
 * the class has no entry of.
 */
export const C_T1 = 4;
export const C_T2 = 5;
/**
 * Free-slot stack head, 64 bits at an even word (CLASSES and CLASS_WORDS are even): low word the
 * top entry id (NONE when empty), high word a tag bumped on every change, so a compare-exchange
 * over both cannot be fooled by a pop and push of the same entry in between (ABA).
 */
export const C_FREE_HEAD = 8;
export const CLASSES = HEADER_WORDS;

// ── Control buffer: models ───────────────────────────────────────────────────────────────────
export const MAX_MODELS = 256;
/** Model names are stored as UTF-8 in the record, up to this many bytes. */
export const MAX_MODEL_NAME_BYTES = 192;
/** Line 0: dims, generation, class, name length. Line 1: live count. Lines 2-4: the name. */
export const MODEL_WORDS = 5 * LINE_WORDS;
export const M_DIMS = 0;
/** Generation: invalidateModel() bumps it; entries of older generations are misses. */
export const M_GEN = 1;
export const M_CLASS = 2;
export const M_NAME_LEN = 3;
/** The fleet's generation of this model as this machine knows it: 64 bits (words 4-5; remote tier; raised, never lowered). */
export const M_FLEET_GEN = 4;
/** Live entries of the current generation (own cache line: bumped on inserts). */
export const M_LIVE = LINE_WORDS;
export const M_NAME = 2 * LINE_WORDS; // 48 words = MAX_MODEL_NAME_BYTES
export const MODELS = CLASSES + MAX_CLASSES * CLASS_WORDS;

/** Word index of class c's record (add a C_ field). */
export function classAt(c: number): number {
  return CLASSES + c * CLASS_WORDS;
}

/** Word index of model m's record (add an M_ field). */
export function modelAt(m: number): number {
  return MODELS + m * MODEL_WORDS;
}

// ── Control buffer: write locks ──────────────────────────────────────────────────────────────
/** Striped write locks; a bucket's stripe is bucket & (STRIPES - 1). */
export const STRIPES = 1024;
/** One more lock record after the stripes guards the model/class registry. */
export const REGISTRY_LOCK = STRIPES;
export const LOCK_WORDS = LINE_WORDS;
/** Owner token, 0 when free. */
export const L_OWNER = 0;
/** Bumped on every acquisition: a waiter that sees owner and stamp unchanged past the timeout takes over. */
export const L_STAMP = 1;
/** Entry the owner is writing (-1 none): what a take-over repairs. */
export const L_INTENT = 2;
/** Threads sleeping in Atomics.wait on L_OWNER (release notifies only when > 0). */
export const L_WAITERS = 4;
export const LOCKS = MODELS + MAX_MODELS * MODEL_WORDS;

// ── Control buffer: stats ────────────────────────────────────────────────────────────────────
/** A row of counters per attached thread (rows are reused modulo STAT_ROWS and bumped atomically). */
export const STAT_ROWS = 64;
/** Two cache lines a row: memory and spill counters, then the remote tier's. */
export const STAT_WORDS = 2 * LINE_WORDS;
export const ST_HITS = 0;
export const ST_MISSES = 1;
export const ST_SETS = 2;
export const ST_EVICTIONS = 3;
export const ST_EXPIRATIONS = 4;
export const ST_INVALIDATIONS = 5;
export const ST_DELETES = 6;
export const ST_TAKEOVERS = 7;
/** Spill tier, every thread's instance: records made durable, reads served, reads missed, failures. */
export const ST_SPILL_WRITES = 9;
export const ST_SPILL_HITS = 10;
export const ST_SPILL_MISSES = 11;
export const ST_SPILL_ERRORS = 12;
/** Spill tier: queued writes dropped because a later-stamped operation on their key reached disk first. */
export const ST_SPILL_SUPERSEDED = 13;
/** Remote tier (Redis), every thread's instance: hits, misses, values written, failed calls, texts waited for under another machine's lease, values refused by the header check. */
export const ST_REMOTE_HITS = 16;
export const ST_REMOTE_MISSES = 17;
export const ST_REMOTE_WRITES = 18;
export const ST_REMOTE_ERRORS = 19;
export const ST_REMOTE_LEASE_WAITS = 20;
export const ST_REMOTE_INVALID = 21;
/** getOrCompute, every thread: texts asked for, and texts sent to embed() (the rest were saved). */
export const ST_COMPUTE_TEXTS = 22;
export const ST_COMPUTE_EMBEDDED = 23;
export const STATS = LOCKS + (STRIPES + 1) * LOCK_WORDS;

// ── Control buffer: hash index ───────────────────────────────────────────────────────────────
export const BUCKETS = STATS + STAT_ROWS * STAT_WORDS;
/** Bucket value of an empty chain. */
export const NONE = -1;

/**
 * After the buckets, one word per bucket: disk writes of the bucket's keys that some thread has
 * queued and not yet settled (tiers.ts). A promotion into a bucket with any is refused: the disk
 * copy it read may be older than a write still in a queue.
 */
export function pendingAt(buckets: number): number {
  return BUCKETS + buckets;
}

/**
 * The ghost directory (ghosts.ts), after the pending words, sized by the bucket count (a power of
 * two ≥ 1.25 × expectedEntries, and expectedEntries defaults from maxEntries), so it remembers
 * at least as many evicted keys as the cache holds, as CAR needs (|B1| + |B2| ≤ c):
 *
 *   table   2 × buckets ways × 2 words   8-way sets of {fingerprint, tag}, 64 bytes each at a
 *                                        line boundary of the buffer; tag = seq << 1 | list
 *   ring B1 buckets words                fingerprints in eviction order, cell = seq & (buckets-1)
 *   ring B2 buckets words
 *
 * 24 bytes per bucket (≈ 24-38 bytes per expected entry). The table has twice as many ways as
 * ghosts can be: a full set loses a ghost, and CAR on loop-like traces lives on its ghosts. One
 * set per key, 64 contiguous bytes: a lookup or a push reads one place in the table (two 4-way
 * choices kept sets as even but were two unrelated lines, which an insert paid in misses).
 */
export const GHOST_SLOT_WORDS = 2;
export const GHOST_WAYS = 8;
/** Ways of the table per bucket. */
export const GHOST_WAYS_PER_BUCKET = 2;

export function ghostTableAt(buckets: number): number {
  // Rounded up to a line of the buffer, so that a set never spans more lines than it must.
  return (BUCKETS + 2 * buckets + LINE_WORDS - 1) & ~(LINE_WORDS - 1);
}

/** Ring of ghost list l (0: B1, 1: B2). */
export function ghostRingAt(buckets: number, l: number): number {
  return ghostTableAt(buckets) + GHOST_WAYS_PER_BUCKET * GHOST_SLOT_WORDS * buckets + l * buckets;
}

/** Words of the control buffer for a given bucket count (a power of two ≥ STRIPES). */
export function controlWords(buckets: number): number {
  return ghostRingAt(buckets, 2);
}

// ── Arena pages ──────────────────────────────────────────────────────────────────────────────
export const PAGE_BYTES = 256 * 1024;
export const PAGE_WORDS = PAGE_BYTES / 4;
export const PAGE_WORD_SHIFT = 16; // PAGE_WORDS = 2^16
/** Largest growable SharedArrayBuffer Node 20 allows. */
export const ARENA_MAX_BYTES = 2 ** 32;
export const PAGES_PER_ARENA = ARENA_MAX_BYTES / PAGE_BYTES; // 16384
export const PAGES_PER_ARENA_SHIFT = 14;
/** Entry id = page << SLOT_BITS | slot. 18 page bits (64 GiB) + 13 slot bits fit in 31 bits. */
export const SLOT_BITS = 13;
export const MAX_SLOTS_PER_PAGE = 1 << SLOT_BITS; // 8192
export const SLOT_MASK = MAX_SLOTS_PER_PAGE - 1;
export const MAX_PAGES = 1 << 18;

/** Page of entry id e. */
export function pageOf(e: number): number {
  return e >>> SLOT_BITS;
}

/** Slot of entry id e in its page. */
export function slotOf(e: number): number {
  return e & SLOT_MASK;
}

/** Entry id of slot s of page p. */
export function entryId(p: number, s: number): number {
  return (p << SLOT_BITS) | s;
}

/** Arena holding page p. */
export function arenaOf(p: number): number {
  return p >>> PAGES_PER_ARENA_SHIFT;
}

/** Word offset of page p in its arena. */
export function pageBase(p: number): number {
  return (p & (PAGES_PER_ARENA - 1)) << PAGE_WORD_SHIFT;
}

// Page header (words).
/** Dimension class + 1; 0 while the page is unassigned. Written last when a page is set up. */
export const PG_CLASS = 0;
export const PG_SLOTS = 1;
/** Next never-used slot (atomic add; may overshoot PG_SLOTS). */
export const PG_BUMP = 2;
export const PG_DIMS = 3;
/** Page seqlock: odd while the page changes class; readers check it around a read. */
export const PG_EPOCH = 4;
/**
 * 1 if the page had a hit since the page hand last passed (set by readers, plain store only when
 * 0). A writer short of room takes a page of another class whose flag stayed 0 (arena.ts).
 */
export const PG_HOT = 5;
export const PAGE_HEADER_WORDS = 16;
/**
 * Policy bits (policy.ts, car.ts), two bits per slot at a fixed place whatever the page's class:
 * a reader sets a reference bit with no lock, and a stale reader racing a class change must not
 * write into anything else. Word refWord(s) holds the reference bits of slots 32i … 32i + 31
 * (referenced since the hand passed); the word after it (+ PG_T2) their T2 bits (the entry is in
 * T2, seen at least twice; written by writers only). Interleaved, so that the sweep, an eviction
 * and an insert find both bits of a slot in one cache line.
 */
export const PG_REF = PAGE_HEADER_WORDS;
export const PG_PLANE_WORDS = MAX_SLOTS_PER_PAGE / 32; // 256
export const PG_REF_WORDS = 2 * PG_PLANE_WORDS; // 512
/** Offset of a slot's T2 word from its reference word. */
export const PG_T2 = 1;
/** Page word holding slot s's reference bit (bit s & 31); its T2 bit is in the next word. */
export function refWord(s: number): number {
  return PG_REF + ((s >>> 5) << 1);
}
export const PG_BODY = PG_REF + PG_REF_WORDS; // 528: even, so Float64 fields can follow

// Entry states (word E_STATE). A claimed entry holds -(owner token): a take-over can tell whose.
export const STATE_FREE = 0;
export const STATE_LIVE = 1;
/**
 * A live entry's `free` word (the free-stack link is unused while it is live): ON_DISK when the
 * entry came from the spill tier and has not been rewritten, so evicting it writes nothing.
 */
export const ON_DISK = 1;

/** Metadata words per entry: seq, next, free, state, model, gen, key×4, expiry (f64 = 2 words). */
export const ENTRY_META_WORDS = 12;

/**
 * Field offsets inside a page for one dimension. Struct-of-arrays: each field is an array of
 * `slots` values, so a probe touches few cache lines and a vector is one contiguous run.
 */
export interface PageLayout {
  readonly dims: number;
  readonly slots: number;
  /** Seqlock word: odd while the entry is written. */
  readonly seq: number;
  /** Next entry id in the bucket chain, or NONE. */
  readonly next: number;
  /**
   * Next entry id in the class's free stack. Its own word, not `next`: a free slot can be claimed
   * and linked into a chain while a thread is still pushing it, and the two links must not meet.
   * While the entry is live the word holds flags instead (ON_DISK).
   */
  readonly free: number;
  readonly state: number;
  readonly model: number;
  readonly gen: number;
  /** 4 words per slot. */
  readonly key: number;
  /** Float64 index base (word offset / 2) of the absolute expiry in ms, 0 = never. */
  readonly expiryF64: number;
  readonly vec: number;
}

/** Slots of a page for `dims`-float vectors; 0 if a vector does not fit in a page. */
export function slotsPerPage(dims: number): number {
  const usable = PAGE_WORDS - PG_BODY - 8; // 8 words of alignment slack
  return Math.min(MAX_SLOTS_PER_PAGE, Math.floor(usable / (ENTRY_META_WORDS + dims)));
}

/** Largest vector (in floats) the layout can hold. */
export const MAX_DIMS = PAGE_WORDS - PG_BODY - 8 - ENTRY_META_WORDS;

export function pageLayout(dims: number): PageLayout {
  const slots = slotsPerPage(dims);
  const seq = PG_BODY;
  const next = seq + slots;
  const free = next + slots;
  const state = free + slots;
  const model = state + slots;
  const gen = model + slots;
  const key = gen + slots;
  const expiry = (key + 4 * slots + 1) & ~1; // even
  const vec = (expiry + 2 * slots + 3) & ~3; // 16-byte aligned
  return { dims, slots, seq, next, free, state, model, gen, key, expiryF64: expiry / 2, vec };
}
