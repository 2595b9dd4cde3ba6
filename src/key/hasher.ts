/**
 * 128-bit content keys over (model, chunkId, text).
 *
 * Framing: the hashed bytes are
 *
 *   u32 modelLen | model UTF-8 | u8 hasChunk | u32 chunkLen | chunkId UTF-8 | text UTF-16LE
 *
 * (model and chunk id as UTF-8 via utf8.ts, which keeps lone surrogates apart instead of mapping
 * them to U+FFFD; the text as its UTF-16 code units, little-endian.)
 *
 * Why the text is hashed as UTF-16 code units, not UTF-8: a JS string *is* a sequence of code
 * units, so they are its lossless form by definition (a lone surrogate is just another unit: no
 * well-formedness scan, no escape form) and Buffer.write(…, 'utf16le') produces them at memcpy
 * speed — V8 stores any string with a character above U+00FF as two-byte units already, and
 * widens a Latin-1 one in a tight native loop. UTF-8 needs TextEncoder's per-character
 * transcoding plus an isWellFormed() scan: for a 1 KB chunk with a single non-Latin-1
 * character (an em dash, a curly quote, a CJK word) that was ~1 µs of a ~2 µs lookup, against
 * ~0.05 µs now. The price: twice the bytes to hash (2 × 0.16 µs more per key for ASCII text
 * than UTF-8 would cost). Changing this changes every key: spill/format.ts's FORMAT_VERSION
 * moved with it (a file of older keys is refused, not misread).
 *
 * Model and chunk id carry their lengths and the text runs to the end, so two different triples
 * never frame to the same bytes: ('ab', 'c') and ('a', 'bc') differ in the length word.
 *
 * 'xxhash': xxhash64 of the text under two 64-bit seeds derived from the framed prefix and a
 * per-cache random secret (stored in the cache's shared header, and in the spill file, so every
 * thread and a warm restart agree). Both in one pass over the text by our own wasm module
 * (xxh64x2.ts), or by two xxhash-wasm calls where that module was not built: the same key.
 * 'sha256': HMAC-SHA-256 under a per-cache 32-byte secret, first 16 bytes; for untrusted text.
 *
 * A key is four int32 words. The hasher writes them into `out` (no allocation per key on the
 * one-pass path) and returns nothing.
 */
import { createHmac } from 'node:crypto';
import xxhash from 'xxhash-wasm';
import { encodeLossless } from './utf8.js';
import { loadXXH64x2, type XXH64x2 } from './xxh64x2.js';

export type KeyHash = 'xxhash' | 'sha256';

/** Bytes of secret a cache carries: two 8-byte xxhash seeds, or a 32-byte HMAC key. */
export const SECRET_BYTES = 32;

type XXHash = Awaited<ReturnType<typeof xxhash>>;
let xxhashReady: Promise<XXHash> | undefined;
/** Loads the wasm module once per thread. */
export function loadXXHash(): Promise<XXHash> {
  xxhashReady ??= xxhash();
  return xxhashReady;
}

export class KeyHasher {
  /** Per (model, chunkId): the two 64-bit seeds the text is hashed under (xxhash), or the framed prefix (sha256). */
  private prefixCache = new Map<string, { a: bigint; b: bigint; bytes: Uint8Array }>();
  private readonly big = new BigUint64Array(1);
  private readonly bigWords = new Int32Array(this.big.buffer);
  private readonly seeds: BigUint64Array;
  /** UTF-16LE code units of the text being hashed: written once, hashed under both seeds. */
  private buf = Buffer.allocUnsafeSlow(32 * 1024);
  private lastModel = '';
  private lastChunk: string | undefined = undefined;
  private lastPrefix: { a: bigint; b: bigint; bytes: Uint8Array } | undefined;

  constructor(
    private readonly kind: KeyHash,
    private readonly secret: Uint8Array,
    private readonly xx: XXHash | null,
    private readonly x2: XXH64x2 | null = null,
  ) {
    this.seeds = new BigUint64Array(secret.slice().buffer);
  }

  /** Whether xxhash keys take the one-pass path (xxh64x2.wasm) rather than two xxhash-wasm calls. */
  get onePass(): boolean {
    return this.xx !== null && this.x2 !== null;
  }

  static async create(kind: KeyHash, secret: Uint8Array): Promise<KeyHasher> {
    if (secret.byteLength !== SECRET_BYTES) throw new Error(`key secret must be ${SECRET_BYTES} bytes`);
    if (kind !== 'xxhash') return new KeyHasher(kind, secret, null);
    return new KeyHasher(kind, secret, await loadXXHash(), await loadXXH64x2());
  }

  /**
   * The framed (model, chunkId) prefix and, for xxhash, the seeds derived from it:
   * seedA' = seedA ^ xxh64(prefix, seedC), seedB' = seedB ^ xxh64(prefix, seedD). Hashing the
   * text under seeds derived from the prefix equals hashing prefix and text together for
   * telling triples apart (the prefix is length-framed), without re-encoding the prefix per call.
   */
  private prefix(model: string, chunkId: string | undefined): { a: bigint; b: bigint; bytes: Uint8Array } {
    // Batches repeat one (model, chunkId): skip building the map key for them.
    if (model === this.lastModel && chunkId === this.lastChunk && this.lastPrefix !== undefined)
      return this.lastPrefix;
    this.lastPrefix = this.lookupPrefix(model, chunkId);
    this.lastModel = model;
    this.lastChunk = chunkId;
    return this.lastPrefix;
  }

  private lookupPrefix(
    model: string,
    chunkId: string | undefined,
  ): { a: bigint; b: bigint; bytes: Uint8Array } {
    // Unambiguous map key: the model's length is spelled out and the chunk id runs to the end.
    const id = `${chunkId === undefined ? '-' : '+'}${model.length}:${model}${chunkId ?? ''}`;
    let p = this.prefixCache.get(id);
    if (p !== undefined) return p;
    const m = encodeLossless(model);
    const c = chunkId === undefined ? new Uint8Array(0) : encodeLossless(chunkId);
    const bytes = new Uint8Array(4 + m.length + 1 + 4 + c.length);
    const dv = new DataView(bytes.buffer);
    dv.setUint32(0, m.length, true);
    bytes.set(m, 4);
    dv.setUint8(4 + m.length, chunkId === undefined ? 0 : 1);
    dv.setUint32(5 + m.length, c.length, true);
    bytes.set(c, 9 + m.length);
    let a = 0n;
    let b = 0n;
    if (this.xx !== null) {
      a = this.seeds[0]! ^ this.xx.h64Raw(bytes, this.seeds[2]!);
      b = this.seeds[1]! ^ this.xx.h64Raw(bytes, this.seeds[3]!);
    }
    p = { a, b, bytes };
    // Chunk ids are usually unique per text: do not let the prefix cache grow without bound.
    if (this.prefixCache.size >= 4096) this.prefixCache.clear();
    this.prefixCache.set(id, p);
    return p;
  }

  /** Writes the 128-bit key of (model, chunkId, text) into out[at..at+3]. */
  hash(model: string, chunkId: string | undefined, text: string, out: Int32Array, at = 0): void {
    const p = this.prefix(model, chunkId);
    if (this.x2 !== null && this.xx !== null) {
      this.x2.hashUtf16(text, p.a, p.b, out, at);
      return;
    }
    if (text.length * 2 > this.buf.length) this.buf = Buffer.allocUnsafeSlow(text.length * 2);
    // A Uint8Array view, not Buffer.subarray (slower, and the hash only reads bytes).
    const bytes = new Uint8Array(this.buf.buffer, 0, this.buf.write(text, 0, 'utf16le'));
    if (this.xx !== null) {
      this.big[0] = this.xx.h64Raw(bytes, p.a);
      out[at] = this.bigWords[0]!;
      out[at + 1] = this.bigWords[1]!;
      this.big[0] = this.xx.h64Raw(bytes, p.b);
      out[at + 2] = this.bigWords[0]!;
      out[at + 3] = this.bigWords[1]!;
    } else {
      const d = createHmac('sha256', this.secret).update(p.bytes).update(bytes).digest();
      out[at] = d.readInt32LE(0);
      out[at + 1] = d.readInt32LE(4);
      out[at + 2] = d.readInt32LE(8);
      out[at + 3] = d.readInt32LE(12);
    }
  }
}

/** The 16 bytes of a key (little-endian words), as the spill tier stores it. */
export function keyBytes(words: Int32Array, at = 0): Uint8Array {
  const b = new Uint8Array(16);
  keyBytesInto(words, at, new Int32Array(b.buffer));
  return b;
}

/** keyBytes() into a caller's buffer, seen as its four int32 words (no allocation). */
export function keyBytesInto(words: Int32Array, at: number, out: Int32Array): void {
  out[0] = words[at]!;
  out[1] = words[at + 1]!;
  out[2] = words[at + 2]!;
  out[3] = words[at + 3]!;
}
