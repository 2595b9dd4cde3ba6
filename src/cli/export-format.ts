/**
 * The export file format (version 3; versions 1 and 2 held the content keys of spill formats 1
 * and 2, which this embedcache no longer computes): what `embedcache export` writes and
 * `embedcache import` reads. One self-contained, streamable file; all integers and floats
 * little-endian.
 *
 * Header (16 + S + M bytes):
 *
 *   offset  size  field
 *        0     8  magic               89 45 43 58 0D 0A 1A 0A  ("\x89ECX\r\n\x1a\n": a binary file,
 *                                       and text-mode or 7-bit mangling shows)
 *        8     2  export version      u16, EXPORT_VERSION (3); a reader refuses any other
 *       10     1  key hash            1 = xxhash, 2 = sha256
 *       11     1  seed length S       u8, 32
 *       12     4  meta length M       u32
 *       16     S  key seed            the cache's per-cache key secret (see below)
 *     16+S     M  meta                UTF-8 JSON object, keys sorted: {"fleet": {"<prefix>":
 *                                       {"epoch": n, "gens": {"<model>": n}}}}: the fleet
 *                                       generations the records were written under ({} if none)
 *
 * Records, repeated, in (model name, content key) byte order:
 *
 *        0     4  body length L       u32, bytes after this field; 0 ends the records
 *        4     2  model name length N u16
 *        6     N  model name          UTF-8
 *      6+N    16  content key         the 16-byte key (covers model, chunk id and text)
 *     22+N     8  createdMs           f64, Date.now() at the set
 *     30+N     8  expiresMs           f64, absolute ms since the epoch; 0 = never
 *     38+N     4  dims d              u32, > 0
 *     42+N    4d  vector              float32, bit-exact as stored
 *                                     (L = 38 + N + 4d)
 *
 * Trailer, after the terminating 0:
 *
 *        0     8  record count        u64
 *        8    32  SHA-256             of every byte of the file before it (header, records, the
 *                                     terminator and the count); nothing may follow
 *
 * Only live records are exported: the current generation of each model, not tombstones, not
 * expired, not corrupt. Nothing depends on the source file's model ids or page layout, and
 * nothing in it is a time of export, so export → import into an empty folder → export gives an
 * identical file.
 *
 * Security: the file carries the key seed. Keys are one-way hashes of (model, chunk id, text)
 * under that seed, so an import into a new folder must carry it over or no key would be found
 * again; but anyone holding the file can compute the key of any text they guess (and so learn
 * whether it was embedded), and with keyHash 'xxhash' craft texts that collide. Treat an export
 * like the cache folder itself (whose data.mdb holds the same seed): keep it private.
 */
import { writeSync } from 'node:fs';
import { createHash, type Hash } from 'node:crypto';
import { CONTENT_KEY_BYTES, type KeyHashName } from '../spill/format.js';
import { CliError, EXIT_CANNOT_OPEN, ioError } from './common.js';

export const EXPORT_MAGIC = Buffer.from([0x89, 0x45, 0x43, 0x58, 0x0d, 0x0a, 0x1a, 0x0a]);
export const EXPORT_VERSION = 3;
export const FIXED_HEADER_BYTES = 16;
export const SEED_BYTES = 32;
/** Body bytes of a record besides its name and vector: N (2), key, createdMs, expiresMs, dims. */
export const RECORD_FIXED_BYTES = 2 + CONTENT_KEY_BYTES + 8 + 8 + 4;
/** Largest record body a reader accepts (a sanity bound: the cache's vectors are far smaller). */
export const MAX_BODY_BYTES = 1 << 28;
export const KEY_HASH_CODES: Record<KeyHashName, number> = { xxhash: 1, sha256: 2 };
/** Bytes a writer buffers, and a reader reads, at a time. */
export const CHUNK_BYTES = 1 << 20;

export interface ExportMeta {
  fleet: Record<string, { epoch: number; gens: Record<string, number> }>;
}

export interface ExportHeader {
  keyHash: KeyHashName;
  seed: Uint8Array;
  meta: ExportMeta;
}

/** One record as read: `key` and `vector` are views valid until the next record is read. */
export interface ExportRecord {
  model: string;
  key: Uint8Array;
  createdMs: number;
  expiresMs: number;
  dims: number;
  /** 4 · dims bytes of little-endian float32. */
  vector: Uint8Array;
}

/** JSON with object keys sorted at every level: the same meta always gives the same bytes. */
function canonicalJson(value: unknown): string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return JSON.stringify(value);
  const entries = Object.keys(value)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
  return `{${entries.join(',')}}`;
}

/** Writes an export file to an open descriptor: the header at once, then records, then finish(). */
export class ExportWriter {
  private buf = Buffer.allocUnsafe(CHUNK_BYTES);
  private used = 0;
  private readonly hash: Hash = createHash('sha256');
  records = 0;
  bytes = 0;

  constructor(
    private readonly fd: number,
    private readonly path: string,
    header: ExportHeader,
  ) {
    const meta = Buffer.from(canonicalJson(header.meta), 'utf8');
    const fixed = Buffer.alloc(FIXED_HEADER_BYTES);
    EXPORT_MAGIC.copy(fixed, 0);
    fixed.writeUInt16LE(EXPORT_VERSION, 8);
    fixed.writeUInt8(KEY_HASH_CODES[header.keyHash], 10);
    fixed.writeUInt8(header.seed.length, 11);
    fixed.writeUInt32LE(meta.length, 12);
    this.put(fixed);
    this.put(header.seed);
    this.put(meta);
  }

  /** Appends a record; `vector` is its 4 · dims bytes of little-endian float32. */
  write(model: Buffer, key: Uint8Array, createdMs: number, expiresMs: number, vector: Uint8Array): void {
    if (model.length > 0xffff)
      throw new RangeError(`a model name is ${model.length} bytes; the format allows 65535`);
    const body = RECORD_FIXED_BYTES + model.length + vector.length;
    const head = Buffer.allocUnsafe(4 + 2 + model.length + CONTENT_KEY_BYTES + 8 + 8 + 4);
    let at = head.writeUInt32LE(body, 0);
    at = head.writeUInt16LE(model.length, at);
    at += model.copy(head, at);
    head.set(key.subarray(0, CONTENT_KEY_BYTES), at);
    at += CONTENT_KEY_BYTES;
    at = head.writeDoubleLE(createdMs, at);
    at = head.writeDoubleLE(expiresMs, at);
    head.writeUInt32LE(vector.length / 4, at);
    this.put(head);
    this.put(vector);
    this.records++;
  }

  /** Writes the terminator and trailer and flushes; the caller closes the descriptor. */
  finish(): void {
    const end = Buffer.alloc(12);
    end.writeBigUInt64LE(BigInt(this.records), 4);
    this.put(end);
    this.flush();
    const digest = this.hash.digest();
    this.out(digest);
  }

  private put(bytes: Uint8Array): void {
    if (this.used + bytes.length > this.buf.length) this.flush();
    if (bytes.length > this.buf.length) {
      this.hash.update(bytes);
      this.out(bytes);
      return;
    }
    this.buf.set(bytes, this.used);
    this.used += bytes.length;
  }

  private flush(): void {
    if (this.used === 0) return;
    const chunk = this.buf.subarray(0, this.used);
    this.hash.update(chunk);
    this.out(chunk);
    this.used = 0;
  }

  private out(bytes: Uint8Array): void {
    try {
      let off = 0;
      while (off < bytes.length) off += writeSync(this.fd, bytes, off, bytes.length - off);
    } catch (err) {
      throw ioError('write', this.path, err);
    }
    this.bytes += bytes.length;
  }
}

export function notAnExport(path: string, why: string): CliError {
  return new CliError(
    EXIT_CANNOT_OPEN,
    `${path} is not a valid embedcache export file: ${why}`,
    'NOT_AN_EXPORT',
  );
}
