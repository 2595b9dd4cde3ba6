/**
 * The remote tier's names and bytes in Redis. Everything the fleet agrees on is here.
 *
 * Keys, under a prefix P (default 'embedcache'):
 *
 *   P:{b}:<model tag>:<epoch>.<generation>:<key hex>   a vector (or a delete's tombstone)
 *   P:{b}:lease:<model tag>:<epoch>.<generation>:<key hex>   a claim on a text being embedded
 *   P:gens        hash: model name → generation (bumped by invalidateModel; generations.ts)
 *   P:epoch       counter, bumped by clear()
 *   P:secret      the fleet's 32-byte key secret (SET NX by the first cache; absent with remote.secret)
 *   P:bump        pub/sub channel announcing a generation or epoch bump
 *
 * b is one of BUCKET_TAGS hash-tag buckets, taken from the key's first word: on Redis Cluster a
 * bucket is one slot, so a batch read is at most BUCKET_TAGS commands in all, a few per node.
 * The model tag (8 hex of SHA-256 of the model name) lets the background sweep tell which
 * generation counter a key belongs to without the model name in every key.
 *
 * Value, little-endian except the stamp:
 *
 *   0  'E' 'V'   magic
 *   2  u8        format version (VALUE_VERSION)
 *   3  u8        flags: 1 = tombstone (a delete; no floats)
 *   4  u32       dimensions
 *   8  u64 BE    order stamp × 1024 (big-endian so Redis compares two as byte strings)
 *   16 f64       expiry, ms since the epoch (0 = none)
 *   24 u16       model name length, then the name (UTF-8), zero-padded to a multiple of 4
 *   …  f32 × dimensions
 *
 * A value that fails any check (foreign bytes, another version, another model or dimension, a
 * truncated body, expired) is a miss, counted as `invalid` — never returned.
 */
import { createHash } from 'node:crypto';
import { MAX_DIMS } from '../memory/layout.js';

export const VALUE_VERSION = 1;
export const BUCKET_TAGS = 16;
export const HEADER_FIXED = 26;
const FLAG_TOMBSTONE = 1;
const MAGIC_E = 0x45;
const MAGIC_V = 0x56;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** 8 hex chars naming a model in keys (the sweep maps them back through P:gens). */
export function modelTag(model: string): string {
  return createHash('sha256').update(model, 'utf8').digest('hex').slice(0, 8);
}

/** The hash-tag bucket of a 128-bit key (its first word). */
export function bucketOf(k: Int32Array, ko: number): number {
  return (k[ko]! >>> 0) & (BUCKET_TAGS - 1);
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** The key's 16 bytes as 32 hex chars. */
export function keyHex(k: Int32Array, ko: number): string {
  let s = '';
  for (let w = 0; w < 4; w++) {
    const x = k[ko + w]!;
    s += HEX[x & 0xff]! + HEX[(x >>> 8) & 0xff]! + HEX[(x >>> 16) & 0xff]! + HEX[(x >>> 24) & 0xff]!;
  }
  return s;
}

/** Names of one prefix's keys. */
export class KeyNames {
  readonly gens: string;
  readonly epoch: string;
  readonly secret: string;
  readonly channel: string;
  private readonly tags = new Map<string, string>();

  constructor(readonly prefix: string) {
    this.gens = `${prefix}:gens`;
    this.epoch = `${prefix}:epoch`;
    this.secret = `${prefix}:secret`;
    this.channel = `${prefix}:bump`;
  }

  tagOf(model: string): string {
    let t = this.tags.get(model);
    if (t === undefined) {
      t = modelTag(model);
      this.tags.set(model, t);
    }
    return t;
  }

  /** The value key of key k for a model tag at (epoch, generation). */
  value(k: Int32Array, ko: number, tag: string, epoch: number, gen: number): string {
    return `${this.prefix}:{${bucketOf(k, ko)}}:${tag}:${epoch}.${gen}:${keyHex(k, ko)}`;
  }

  /** The lease key beside a value key. */
  lease(valueKey: string): string {
    const close = valueKey.indexOf('}:') + 2;
    return `${valueKey.slice(0, close)}lease:${valueKey.slice(close)}`;
  }

  /** The SCAN pattern matching every value and lease key of this prefix. */
  scanPattern(): string {
    return `${escapeGlob(this.prefix)}:{*}:*`;
  }

  /** Parses a value or lease key of this prefix: its model tag, epoch and generation, or undefined. */
  parse(key: string): { tag: string; epoch: number; gen: number } | undefined {
    if (!key.startsWith(`${this.prefix}:{`)) return undefined;
    const close = key.indexOf('}:', this.prefix.length + 2);
    if (close < 0) return undefined;
    let parts = key.slice(close + 2).split(':');
    if (parts[0] === 'lease') parts = parts.slice(1);
    if (parts.length !== 3) return undefined;
    const [tag, eg] = parts as [string, string, string];
    const dot = eg.indexOf('.');
    const epoch = Number(eg.slice(0, dot));
    const gen = Number(eg.slice(dot + 1));
    if (dot < 0 || !Number.isSafeInteger(epoch) || !Number.isSafeInteger(gen)) return undefined;
    return { tag, epoch, gen };
  }
}

function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** Header bytes (with padding) before the floats for a model name of `nameBytes` bytes. */
function headerBytes(nameBytes: number): number {
  return (HEADER_FIXED + nameBytes + 3) & ~3;
}

/** The big-endian 8-byte form of a stamp (ms with 1/1024 steps), as the Lua script compares it. */
export function stampBytes(stamp: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(Math.round(stamp * 1024)));
  return b;
}

/** Encodes a vector (or, with vector null, a tombstone) as a value. */
export function encodeValue(
  model: string,
  vector: Float32Array | null,
  stamp: number,
  expiresMs: number,
): Buffer {
  const name = encoder.encode(model);
  const dims = vector === null ? 0 : vector.length;
  const h = headerBytes(name.length);
  const buf = Buffer.allocUnsafe(h + dims * 4);
  buf[0] = MAGIC_E;
  buf[1] = MAGIC_V;
  buf[2] = VALUE_VERSION;
  buf[3] = vector === null ? FLAG_TOMBSTONE : 0;
  buf.writeUInt32LE(dims, 4);
  buf.writeBigUInt64BE(BigInt(Math.round(stamp * 1024)), 8);
  buf.writeDoubleLE(expiresMs, 16);
  buf.writeUInt16LE(name.length, 24);
  buf.set(name, HEADER_FIXED);
  buf.fill(0, HEADER_FIXED + name.length, h);
  if (vector !== null) {
    if (LITTLE_ENDIAN) buf.set(new Uint8Array(vector.buffer, vector.byteOffset, dims * 4), h);
    else for (let i = 0; i < dims; i++) buf.writeFloatLE(vector[i]!, h + i * 4);
  }
  return buf;
}

export type Decoded =
  | { kind: 'vector'; vector: Float32Array; expiresMs: number }
  | { kind: 'tombstone' }
  | { kind: 'invalid'; why: string }
  | { kind: 'expired' };

/**
 * Decodes a value read for `model`. `dims` is the model's dimension when known (0: any). The
 * vector is a copy with a buffer of its own.
 */
export function decodeValue(buf: Buffer, model: string, dims: number, now: number): Decoded {
  if (buf.length < HEADER_FIXED || buf[0] !== MAGIC_E || buf[1] !== MAGIC_V)
    return { kind: 'invalid', why: 'not an embedcache value' };
  if (buf[2] !== VALUE_VERSION) return { kind: 'invalid', why: `value format ${buf[2]}` };
  const nameLen = buf.readUInt16LE(24);
  const h = headerBytes(nameLen);
  if (buf.length < h) return { kind: 'invalid', why: 'truncated header' };
  let name: string;
  try {
    name = decoder.decode(buf.subarray(HEADER_FIXED, HEADER_FIXED + nameLen));
  } catch {
    return { kind: 'invalid', why: 'model name is not UTF-8' };
  }
  if (name !== model) return { kind: 'invalid', why: 'another model' };
  const expiresMs = buf.readDoubleLE(16);
  if (!(expiresMs >= 0)) return { kind: 'invalid', why: 'bad expiry' };
  if ((buf[3]! & FLAG_TOMBSTONE) !== 0) return { kind: 'tombstone' };
  const n = buf.readUInt32LE(4);
  if (n === 0 || n > MAX_DIMS || (dims !== 0 && n !== dims))
    return { kind: 'invalid', why: `dimension ${n}` };
  if (buf.length !== h + n * 4) return { kind: 'invalid', why: 'truncated vector' };
  if (expiresMs !== 0 && expiresMs <= now) return { kind: 'expired' };
  const vector = new Float32Array(n);
  if (LITTLE_ENDIAN) new Uint8Array(vector.buffer).set(buf.subarray(h, h + n * 4));
  else for (let i = 0; i < n; i++) vector[i] = buf.readFloatLE(h + i * 4);
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(vector[i]!)) return { kind: 'invalid', why: 'a float that is not finite' };
  }
  return { kind: 'vector', vector, expiresMs };
}
