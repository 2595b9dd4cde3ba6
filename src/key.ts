/**
 * 128-bit content keys over (model, chunkId, text).
 *
 * Framing: the hashed bytes are
 *
 *   u32 modelLen | model UTF-8 | u8 hasChunk | u32 chunkLen | chunkId UTF-8 | text UTF-8
 *
 * Model and chunk id carry their lengths and the text runs to the end, so two different triples
 * never frame to the same bytes: ('ab', 'c') and ('a', 'bc') differ in the length word.
 *
 * 'xxhash': two xxhash64 passes under two 64-bit seeds drawn at random per cache (stored in the
 * cache's shared header, and in the spill file, so every thread and a warm restart agree).
 * 'sha256': HMAC-SHA-256 under a per-cache 32-byte secret, first 16 bytes; for untrusted text.
 *
 * A key is four int32 words. The hasher writes them into `out` (no allocation per key besides
 * what the hash library does) and returns nothing.
 */
import { createHmac } from 'node:crypto';
import xxhash from 'xxhash-wasm';

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

const encoder = new TextEncoder();

export class KeyHasher {
  private buf = new Uint8Array(4096);
  /** Frames of (model, chunkId) already encoded: the prefix is the same for most calls. */
  private prefixCache = new Map<string, Uint8Array>();
  private readonly big = new BigUint64Array(1);
  private readonly bigWords = new Int32Array(this.big.buffer);
  private readonly seedA: bigint;
  private readonly seedB: bigint;

  constructor(
    private readonly kind: KeyHash,
    private readonly secret: Uint8Array,
    private readonly xx: XXHash | null,
  ) {
    const dv = new DataView(secret.buffer, secret.byteOffset, secret.byteLength);
    this.seedA = dv.getBigUint64(0, true);
    this.seedB = dv.getBigUint64(8, true);
  }

  static async create(kind: KeyHash, secret: Uint8Array): Promise<KeyHasher> {
    if (secret.byteLength !== SECRET_BYTES) throw new Error(`key secret must be ${SECRET_BYTES} bytes`);
    return new KeyHasher(kind, secret, kind === 'xxhash' ? await loadXXHash() : null);
  }

  private prefix(model: string, chunkId: string | undefined): Uint8Array {
    // Unambiguous map key: the model's length is spelled out and the chunk id runs to the end.
    const id = `${chunkId === undefined ? '-' : '+'}${model.length}:${model}${chunkId ?? ''}`;
    let p = this.prefixCache.get(id);
    if (p !== undefined) return p;
    const m = encoder.encode(model);
    const c = chunkId === undefined ? new Uint8Array(0) : encoder.encode(chunkId);
    p = new Uint8Array(4 + m.length + 1 + 4 + c.length);
    const dv = new DataView(p.buffer);
    dv.setUint32(0, m.length, true);
    p.set(m, 4);
    dv.setUint8(4 + m.length, chunkId === undefined ? 0 : 1);
    dv.setUint32(5 + m.length, c.length, true);
    p.set(c, 9 + m.length);
    // Chunk ids are usually unique per text: do not let the prefix cache grow without bound.
    if (this.prefixCache.size > 1024) this.prefixCache.clear();
    this.prefixCache.set(id, p);
    return p;
  }

  /** Writes the 128-bit key of (model, chunkId, text) into out[at..at+3]. */
  hash(model: string, chunkId: string | undefined, text: string, out: Int32Array, at = 0): void {
    const p = this.prefix(model, chunkId);
    const need = p.length + text.length * 3;
    if (need > this.buf.length) {
      this.buf = new Uint8Array(Math.max(need, this.buf.length * 2));
    }
    this.buf.set(p, 0);
    const n = p.length + encoder.encodeInto(text, this.buf.subarray(p.length)).written;
    const bytes = this.buf.subarray(0, n);
    if (this.xx !== null) {
      this.big[0] = this.xx.h64Raw(bytes, this.seedA);
      out[at] = this.bigWords[0]!;
      out[at + 1] = this.bigWords[1]!;
      this.big[0] = this.xx.h64Raw(bytes, this.seedB);
      out[at + 2] = this.bigWords[0]!;
      out[at + 3] = this.bigWords[1]!;
    } else {
      const d = createHmac('sha256', this.secret).update(bytes).digest();
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
  new Int32Array(b.buffer).set(words.subarray(at, at + 4));
  return b;
}
