/**
 * The spill file's byte formats: record values, the three kinds of keys, and the meta records.
 * Nothing here touches LMDB; the other spill modules store and fetch these bytes.
 *
 * Record value (one per spilled entry; 40-byte header, then the vector):
 *
 *   offset  size  field
 *        0     1  magic 0xEC          a cheap "is this ours" check on every read
 *        1     1  format version      FORMAT_VERSION
 *        2     2  header bytes (40)   u16 LE; lets a later format grow the header
 *        4     4  dims                u32 LE
 *        8     4  model id            u32 LE (the file's model-name → id map, see MODEL_PREFIX)
 *       12     4  model generation    u32 LE (also in the key; a cross-check)
 *       16     8  createdMs           f64 LE, Date.now() at the cache's set
 *       24     8  expiresMs           f64 LE, absolute ms epoch, 0 = never
 *       32     8  writtenMs           f64 LE, when this copy was queued for disk: its place in
 *                                      the eviction order (the age index key, below)
 *       40  4·d  the vector            float32, little-endian, bit-exact
 *
 * Tombstone: a record with dims 0 and no vector (40 bytes). A delete writes one, so that a
 * write still queued in another thread, stamped before the delete, is refused when it lands
 * (see write-queue.ts). Reads treat it as a miss; it expires after TOMBSTONE_TTL_MS and
 * maintenance removes it like any expired record.
 *
 * writtenMs is the write's order stamp (memory/stamps.ts): a time in ms with 1/1024 ms steps,
 * strictly increasing across every thread of a cache, taken while the key's stripe lock is
 * held, so the stamps of two operations on one key are in the order the operations happened.
 * It is also the record's LMDB version.
 *
 * No JSON and no msgpack on this path. A 768-d record is 3,112 bytes (3,120 with the version
 * LMDB keeps beside it), which fits one 4 KiB overflow page, so the file holds about 4.1 KiB
 * per 768-d entry; up to about 1,000 dims fit one page, 1,024-d and 1,536-d take two. Floats
 * are stored little-endian; on a big-endian host they are swapped on the way in and out (slow
 * path, correct), so a file moves between machines.
 *
 * Keys (all big-endian so that LMDB's byte order is numeric order):
 *
 *   record  [model id u32][generation u32][16-byte content key]          24 bytes
 *   age     [writtenMs f64][record key]                                  32 bytes
 *   expiry  [expiresMs f64][record key]   (only records that expire)     32 bytes
 *
 * Putting (model id, generation) first makes `invalidateModel` O(1): bump the model's
 * generation and every old record falls out of reach at once; the old generation is one
 * contiguous key range, deleted later in bounded batches. Positive IEEE doubles compare like
 * their big-endian bytes, so the age and expiry indexes iterate oldest / soonest first.
 *
 * Meta records are small structured values, packed with msgpackr: the file's format record
 * (format version, key hash, the per-cache seed) and one record per model (id, generation, dims).
 */
import { pack, unpack } from 'msgpackr';

/**
 * 3: content keys are XXH3-128 of the framed input (key/hasher.ts). 2 hashed the text as UTF-16
 * code units under two XXH64 seeds; 1 hashed it as UTF-8. A file of another version is refused.
 */
export const FORMAT_VERSION = 3;
export const RECORD_MAGIC = 0xec;
export const HEADER_BYTES = 40;
export const CONTENT_KEY_BYTES = 16;
export const RECORD_KEY_BYTES = 8 + CONTENT_KEY_BYTES;
export const INDEX_KEY_BYTES = 8 + RECORD_KEY_BYTES;
/** Largest model id or generation a key can carry. */
export const MAX_U32 = 0xffff_ffff;

/** Names of the LMDB databases inside the environment. */
export const DB_META = 'embedcache-meta';
export const DB_RECORDS = 'embedcache-records';
export const DB_AGE = 'embedcache-age';
export const DB_EXPIRY = 'embedcache-expiry';
export const ALL_DBS: readonly string[] = [DB_META, DB_RECORDS, DB_AGE, DB_EXPIRY];

/** Key of the format record in DB_META. */
export const META_FORMAT_KEY = 'format';
/** Key of the next free model id in DB_META. */
export const META_NEXT_MODEL_KEY = 'next-model-id';
/** Model records are keyed MODEL_PREFIX + model name in DB_META. */
export const MODEL_PREFIX = 'model/';
/** Just past every MODEL_PREFIX key ('0' follows '/'), whatever characters the names hold. */
export const MODEL_END = 'model0';

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

// ---------------------------------------------------------------------------------------------
// Scalars. Hand-rolled byte access instead of a DataView per call: the read path decodes a
// header per get, and a DataView over each returned buffer would be an allocation per get.

const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);

function writeF64(bytes: Uint8Array, offset: number, value: number, littleEndian: boolean): void {
  f64[0] = value;
  const swap = littleEndian !== LITTLE_ENDIAN_HOST;
  for (let i = 0; i < 8; i++) bytes[offset + i] = f64Bytes[swap ? 7 - i : i]!;
}

function readF64(bytes: Uint8Array, offset: number, littleEndian: boolean): number {
  const swap = littleEndian !== LITTLE_ENDIAN_HOST;
  for (let i = 0; i < 8; i++) f64Bytes[swap ? 7 - i : i] = bytes[offset + i]!;
  return f64[0]!;
}

function writeU32LE(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = value & 0xff;
  bytes[offset + 1] = (value >>> 8) & 0xff;
  bytes[offset + 2] = (value >>> 16) & 0xff;
  bytes[offset + 3] = (value >>> 24) & 0xff;
}

function readU32LE(bytes: Uint8Array, offset: number): number {
  return (
    (bytes[offset]! | (bytes[offset + 1]! << 8) | (bytes[offset + 2]! << 16) | (bytes[offset + 3]! << 24)) >>>
    0
  );
}

function writeU32BE(bytes: Uint8Array, offset: number, value: number): void {
  bytes[offset] = (value >>> 24) & 0xff;
  bytes[offset + 1] = (value >>> 16) & 0xff;
  bytes[offset + 2] = (value >>> 8) & 0xff;
  bytes[offset + 3] = value & 0xff;
}

function readU32BE(bytes: Uint8Array, offset: number): number {
  return (
    ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>>
    0
  );
}

// ---------------------------------------------------------------------------------------------
// Record values.

/** Header fields of a record, besides dims (the vector's length). */
export interface RecordHeader {
  modelId: number;
  generation: number;
  createdMs: number;
  expiresMs: number;
  writtenMs: number;
}

/** Bytes of a record value holding `dims` floats. */
export function recordBytes(dims: number): number {
  return HEADER_BYTES + 4 * dims;
}

/**
 * Hands out record buffers carved from 1 MiB slabs. A 3 KB typed array costs about a
 * microsecond to allocate (an off-heap backing store plus GC accounting), which dominated
 * enqueue; a slice of a slab costs a view. lmdb-js keeps a reference to each value until its
 * write commits, so a slab lives until the last of its records is written, then is collected.
 * Slices start at multiples of 8, so the floats at +40 stay 4-aligned.
 */
export class RecordArena {
  static readonly SLAB_BYTES = 1 << 20;
  private slab = new ArrayBuffer(0);
  private used = 0;

  alloc(bytes: number): Uint8Array {
    if (bytes > RecordArena.SLAB_BYTES / 4) return new Uint8Array(bytes);
    const size = (bytes + 7) & ~7;
    if (this.used + size > this.slab.byteLength) {
      this.slab = new ArrayBuffer(RecordArena.SLAB_BYTES);
      this.used = 0;
    }
    const out = new Uint8Array(this.slab, this.used, bytes);
    this.used += size;
    return out;
  }
}

/**
 * Encodes a record into a buffer of its own (from `arena` when given). The caller hands it to
 * LMDB, which keeps a reference until the write commits, so it is never reused. Copies
 * `vector` before returning.
 */
export function encodeRecord(header: RecordHeader, vector: Float32Array, arena?: RecordArena): Uint8Array {
  const dims = vector.length;
  const out = arena === undefined ? new Uint8Array(recordBytes(dims)) : arena.alloc(recordBytes(dims));
  out[0] = RECORD_MAGIC;
  out[1] = FORMAT_VERSION;
  out[2] = HEADER_BYTES & 0xff;
  out[3] = HEADER_BYTES >>> 8;
  writeU32LE(out, 4, dims);
  writeU32LE(out, 8, header.modelId);
  writeU32LE(out, 12, header.generation);
  writeF64(out, 16, header.createdMs, true);
  writeF64(out, 24, header.expiresMs, true);
  writeF64(out, 32, header.writtenMs, true);
  if (LITTLE_ENDIAN_HOST) {
    // One memcpy: a Float32Array.set() between float arrays copies bytes as they are.
    new Float32Array(out.buffer, out.byteOffset + HEADER_BYTES, dims).set(vector);
  } else {
    const view = new DataView(out.buffer, out.byteOffset);
    for (let i = 0; i < dims; i++) view.setFloat32(HEADER_BYTES + 4 * i, vector[i]!, true);
  }
  return out;
}

/** How long a delete's tombstone outlives it: longer than any write can sit in a queue. */
export const TOMBSTONE_TTL_MS = 60 * 60 * 1000;

/** Encodes the tombstone of a delete: a header with dims 0, expiring after TOMBSTONE_TTL_MS. */
export function encodeTombstone(
  modelId: number,
  generation: number,
  stamp: number,
  arena?: RecordArena,
): Uint8Array {
  const header = {
    modelId,
    generation,
    createdMs: stamp,
    expiresMs: tombstoneExpiry(stamp),
    writtenMs: stamp,
  };
  return encodeRecord(header, EMPTY_VECTOR, arena);
}

/** When the tombstone of a delete stamped `stamp` expires. */
export function tombstoneExpiry(stamp: number): number {
  return Math.floor(stamp) + TOMBSTONE_TTL_MS;
}

const EMPTY_VECTOR = new Float32Array(0);

/** Whether `bytes` is a tombstone (a header with dims 0 and nothing after it). */
export function isTombstone(bytes: Uint8Array, length: number = bytes.length): boolean {
  return length === HEADER_BYTES && hasHeader(bytes) && readU32LE(bytes, 4) === 0;
}

/** A live record or a tombstone: what maintenance and the write queue treat as a stored copy. */
export function isStoredRecord(bytes: Uint8Array, length: number = bytes.length): boolean {
  return isValidRecord(bytes, length) || isTombstone(bytes, length);
}

function hasHeader(bytes: Uint8Array): boolean {
  return (
    bytes[0] === RECORD_MAGIC &&
    bytes[1] === FORMAT_VERSION &&
    (bytes[2]! | (bytes[3]! << 8)) === HEADER_BYTES
  );
}

/**
 * Whether `bytes` is a whole record of this format holding a vector: magic, version, header
 * size and a length that matches its dims. Every read checks this before trusting a field.
 */
export function isValidRecord(bytes: Uint8Array, length: number = bytes.length): boolean {
  if (length < HEADER_BYTES || !hasHeader(bytes)) return false;
  const dims = readU32LE(bytes, 4);
  return dims > 0 && length === recordBytes(dims);
}

export function recordModelId(bytes: Uint8Array): number {
  return readU32LE(bytes, 8);
}

export function recordGeneration(bytes: Uint8Array): number {
  return readU32LE(bytes, 12);
}

export function recordCreatedMs(bytes: Uint8Array): number {
  return readF64(bytes, 16, true);
}

export function recordExpiresMs(bytes: Uint8Array): number {
  return readF64(bytes, 24, true);
}

export function recordWrittenMs(bytes: Uint8Array): number {
  return readF64(bytes, 32, true);
}

/**
 * Copies the vector out of a record into a new Float32Array the caller owns. `bytes` may be
 * LMDB's reusable read buffer, valid only until the next read, so the copy happens here.
 */
export function decodeVector(bytes: Uint8Array): Float32Array {
  const dims = readU32LE(bytes, 4);
  const start = bytes.byteOffset + HEADER_BYTES;
  if (LITTLE_ENDIAN_HOST) {
    // Aligned: one float-to-float copy straight out of the source buffer (constructing from a
    // typed array skips the zero-fill that `new Float32Array(n)` + set() pays).
    if ((start & 3) === 0) return new Float32Array(new Float32Array(bytes.buffer, start, dims));
    return new Float32Array(bytes.buffer.slice(start, start + 4 * dims));
  }
  const view = new DataView(bytes.buffer, start, 4 * dims);
  const out = new Float32Array(dims);
  for (let i = 0; i < dims; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

/**
 * Copies the record's vector into `scratch.buf` (replaced by a new array when the dims differ)
 * and returns it: no allocation per call while the dims stay the same.
 */
export function readVectorInto(bytes: Uint8Array, scratch: { buf: Float32Array }): Float32Array {
  const dims = readU32LE(bytes, 4);
  if (scratch.buf.length !== dims) scratch.buf = new Float32Array(dims);
  const out = scratch.buf;
  const start = bytes.byteOffset + HEADER_BYTES;
  if (LITTLE_ENDIAN_HOST) {
    if ((start & 3) === 0) out.set(new Float32Array(bytes.buffer, start, dims));
    else new Uint8Array(out.buffer).set(new Uint8Array(bytes.buffer, start, 4 * dims));
  } else {
    const view = new DataView(bytes.buffer, start, 4 * dims);
    for (let i = 0; i < dims; i++) out[i] = view.getFloat32(4 * i, true);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Keys.

/** Writes the 24-byte record key into `out` at 0. */
export function writeRecordKey(
  out: Uint8Array,
  modelId: number,
  generation: number,
  contentKey: Uint8Array,
): void {
  writeU32BE(out, 0, modelId);
  writeU32BE(out, 4, generation);
  for (let i = 0; i < CONTENT_KEY_BYTES; i++) out[8 + i] = contentKey[i]!;
}

export function recordKey(modelId: number, generation: number, contentKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(RECORD_KEY_BYTES);
  writeRecordKey(out, modelId, generation, contentKey);
  return out;
}

export function recordKeyModelId(key: Uint8Array): number {
  return readU32BE(key, 0);
}

export function recordKeyGeneration(key: Uint8Array): number {
  return readU32BE(key, 4);
}

/** First possible record key of (model id, generation): the start of that generation's range. */
export function generationStart(modelId: number, generation: number): Uint8Array {
  const out = new Uint8Array(8);
  writeU32BE(out, 0, modelId);
  writeU32BE(out, 4, generation);
  return out;
}

/** An age or expiry index key: an instant (ms) then the record key. */
export function indexKey(instantMs: number, recKey: Uint8Array): Uint8Array {
  const out = new Uint8Array(INDEX_KEY_BYTES);
  writeF64(out, 0, instantMs, false);
  out.set(recKey, 8);
  return out;
}

/** The lowest index key at or after `instantMs`: a range end for "everything before". */
export function indexBound(instantMs: number): Uint8Array {
  const out = new Uint8Array(8);
  writeF64(out, 0, instantMs, false);
  return out;
}

export function indexKeyInstant(key: Uint8Array): number {
  return readF64(key, 0, false);
}

export function indexKeyRecordKey(key: Uint8Array): Uint8Array {
  return key.slice(8, 8 + RECORD_KEY_BYTES);
}

/**
 * True when `record` (the value stored under the index key's record key) is a whole record
 * whose `instant` (recordWrittenMs for age, recordExpiresMs for expiry) is the index key's: the
 * entry is live. Otherwise it points at nothing or at another copy, and is stale.
 */
export function indexEntryLive(
  key: Uint8Array,
  record: Uint8Array | undefined,
  instant: (record: Uint8Array) => number,
): record is Uint8Array {
  return record !== undefined && isStoredRecord(record) && instant(record) === indexKeyInstant(key);
}

/** A record key as a short string (latin1 of its bytes), for Map lookups of pending writes. */
export function keyString(key: Uint8Array): string {
  let s = '';
  for (let i = 0; i < RECORD_KEY_BYTES; i++) s += String.fromCharCode(key[i]!);
  return s;
}

// ---------------------------------------------------------------------------------------------
// Meta records (msgpackr).

export type KeyHashName = 'xxhash' | 'sha256';

/** The file's identity: written once when the file is created, checked at every open. */
export interface FormatMeta {
  formatVersion: number;
  keyHash: KeyHashName;
  /** The per-cache key seed (32 bytes); keys stay stable across restarts because of it. */
  seed: Uint8Array;
  createdMs: number;
}

/** One model's entry in the file. */
export interface ModelMeta {
  id: number;
  /** Disk generation; records under older generations are unreachable garbage. */
  generation: number;
  /** Fixed by the first vector of the model; 0 = not known yet. */
  dims: number;
}

/**
 * The fleet generations (remote tier) this file's records were written under: at open, a model
 * whose fleet generation moved since is dropped here too (a machine that was down during an
 * invalidateModel must not serve the old vectors from its disk).
 */
export interface FleetMarks {
  epoch: number;
  gens: Record<string, number>;
}

export const META_FLEET_PREFIX = 'fleet/';

export function encodeFleetMarks(marks: FleetMarks): Uint8Array {
  return pack({ epoch: marks.epoch, gens: marks.gens });
}

/** The marks, or undefined for bytes that are not a marks record. */
export function decodeFleetMarks(bytes: Uint8Array): FleetMarks | undefined {
  try {
    const v = unpack(bytes) as Partial<FleetMarks> | null;
    if (typeof v !== 'object' || v === null || typeof v.epoch !== 'number') return undefined;
    if (typeof v.gens !== 'object' || v.gens === null) return undefined;
    const gens: Record<string, number> = {};
    for (const [k, g] of Object.entries(v.gens)) if (typeof g === 'number') gens[k] = g;
    return { epoch: v.epoch, gens };
  } catch {
    return undefined;
  }
}

export function encodeFormatMeta(meta: FormatMeta): Uint8Array {
  return pack({
    formatVersion: meta.formatVersion,
    keyHash: meta.keyHash,
    seed: Buffer.from(meta.seed.buffer, meta.seed.byteOffset, meta.seed.byteLength),
    createdMs: meta.createdMs,
  });
}

export type FormatMetaResult =
  | { kind: 'ok'; meta: FormatMeta }
  | { kind: 'version'; formatVersion: number }
  | { kind: 'invalid'; reason: string };

/**
 * Decodes the format record. Fields are checked one by one: a value that does not decode, or
 * lacks a field, means the file is not one of ours. Another format version is reported as
 * such before any other field is read: a different format may lay them out differently.
 */
export function decodeFormatMeta(bytes: Uint8Array): FormatMetaResult {
  let value: unknown;
  try {
    value = unpack(bytes);
  } catch (err) {
    return { kind: 'invalid', reason: `its format record does not decode (${(err as Error).message})` };
  }
  if (typeof value !== 'object' || value === null)
    return { kind: 'invalid', reason: 'its format record is not a map' };
  const v = value as Record<string, unknown>;
  if (typeof v.formatVersion !== 'number')
    return { kind: 'invalid', reason: 'its format record has no format version' };
  if (v.formatVersion !== FORMAT_VERSION) return { kind: 'version', formatVersion: v.formatVersion };
  if (v.keyHash !== 'xxhash' && v.keyHash !== 'sha256') {
    return { kind: 'invalid', reason: `its format record names an unknown key hash (${String(v.keyHash)})` };
  }
  if (!(v.seed instanceof Uint8Array))
    return { kind: 'invalid', reason: 'its format record has no key seed' };
  return {
    kind: 'ok',
    meta: {
      formatVersion: v.formatVersion,
      keyHash: v.keyHash,
      seed: new Uint8Array(v.seed),
      createdMs: typeof v.createdMs === 'number' ? v.createdMs : 0,
    },
  };
}

export function encodeModelMeta(meta: ModelMeta): Uint8Array {
  return pack({ id: meta.id, generation: meta.generation, dims: meta.dims });
}

export function decodeModelMeta(bytes: Uint8Array): ModelMeta | undefined {
  let value: unknown;
  try {
    value = unpack(bytes);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.id !== 'number' || typeof v.generation !== 'number' || typeof v.dims !== 'number')
    return undefined;
  return { id: v.id, generation: v.generation, dims: v.dims };
}

export function encodeU32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  writeU32LE(out, 0, value);
  return out;
}

export function decodeU32(bytes: Uint8Array): number {
  return bytes.length >= 4 ? readU32LE(bytes, 0) : 0;
}
