/**
 * Models and dimension classes, shared by every thread.
 *
 * A model is a name with a fixed dimension (set by its first vector) and a generation that
 * invalidateModel() bumps. Entries record their model's id and generation, so invalidating a
 * model is one increment, whatever the number of entries. A dimension class groups the models
 * of one dimension: pages are formatted per class (layout.ts).
 *
 * Registration is rare (once per model) and takes the registry lock; lookups after the first go
 * through a per-thread Map.
 */
import { EmbeddingCacheError } from '../errors.js';
import {
  C_CUR_PAGE,
  C_DIMS,
  C_FREE_HEAD,
  C_PAGES,
  C_SLOTS,
  classAt,
  H_CLASS_COUNT,
  H_MODEL_COUNT,
  M_CLASS,
  M_DIMS,
  M_GEN,
  M_LIVE,
  M_NAME,
  M_FLEET_GEN,
  M_NAME_LEN,
  LOCKS,
  MAX_CLASSES,
  MAX_DIMS,
  MAX_MODEL_NAME_BYTES,
  MAX_MODELS,
  modelAt,
  REGISTRY_LOCK,
  slotsPerPage,
} from './layout.js';
import type { LockTable } from './lock.js';
import { encodeLossless } from '../key/utf8.js';

const decoder = new TextDecoder();

export class ModelRegistry {
  private readonly ids = new Map<string, number>();
  private readonly bytes: Uint8Array;
  private readonly wide: BigInt64Array;

  constructor(
    private readonly ctl: Int32Array,
    private readonly locks: LockTable,
  ) {
    this.bytes = new Uint8Array(ctl.buffer, ctl.byteOffset, ctl.byteLength);
    this.wide = wideView(ctl);
  }

  /** Word index of model `id`'s record. */
  record(id: number): number {
    return modelAt(id);
  }

  /** The id of a registered model, or -1 (a get for an unknown model is a miss, nothing more). */
  find(name: string): number {
    const hit = this.ids.get(name);
    if (hit !== undefined) return hit;
    const encoded = this.encodeName(name);
    const count = Atomics.load(this.ctl, H_MODEL_COUNT);
    for (let id = 0; id < count; id++) {
      if (this.nameEquals(id, encoded)) {
        this.ids.set(name, id);
        return id;
      }
    }
    return -1;
  }

  /** The id of `name`, registering it (dimension unknown) if new. */
  ensure(name: string): number {
    const found = this.find(name);
    if (found >= 0) return found;
    const encoded = this.encodeName(name);
    this.locks.acquire(REGISTRY_LOCK);
    try {
      const count = Atomics.load(this.ctl, H_MODEL_COUNT);
      for (let id = 0; id < count; id++) {
        if (this.nameEquals(id, encoded)) {
          this.ids.set(name, id);
          return id;
        }
      }
      if (count >= MAX_MODELS) {
        throw new EmbeddingCacheError(
          'ERR_CAPACITY',
          `A cache holds at most ${MAX_MODELS} models; "${name}" would be model ${count + 1}. Use one cache per group of models.`,
        );
      }
      const r = this.record(count);
      this.ctl[r + M_DIMS] = 0;
      this.ctl[r + M_GEN] = 0;
      this.ctl[r + M_CLASS] = -1;
      this.ctl[r + M_LIVE] = 0;
      this.bytes.set(encoded, (r + M_NAME) * 4);
      this.ctl[r + M_NAME_LEN] = encoded.length;
      Atomics.store(this.ctl, H_MODEL_COUNT, count + 1); // publishes the record
      this.ids.set(name, count);
      return count;
    } finally {
      this.locks.release(REGISTRY_LOCK);
    }
  }

  /** Models registered so far (ids 0 … count-1). */
  count(): number {
    return Atomics.load(this.ctl, H_MODEL_COUNT);
  }

  dims(id: number): number {
    return Atomics.load(this.ctl, this.record(id) + M_DIMS);
  }

  classOf(id: number): number {
    return Atomics.load(this.ctl, this.record(id) + M_CLASS);
  }

  generation(id: number): number {
    return Atomics.load(this.ctl, this.record(id) + M_GEN);
  }

  /** The fleet's generation of model `id` as this machine knows it (0 until the remote tier learns one). */
  fleetGeneration(id: number): number {
    return loadWide(this.wide, this.record(id) + M_FLEET_GEN);
  }

  /** Raises the known fleet generation of `id` to g; true if this call raised it (the caller then drops the older one locally). */
  raiseFleetGeneration(id: number, g: number): boolean {
    return raiseWide(this.wide, this.record(id) + M_FLEET_GEN, g);
  }

  name(id: number): string {
    const r = this.record(id);
    const len = this.ctl[r + M_NAME_LEN]!;
    return decoder.decode(this.bytes.slice((r + M_NAME) * 4, (r + M_NAME) * 4 + len));
  }

  /**
   * Fixes the dimension of model `id` (first vector) and returns its class. A later call with
   * another dimension throws ERR_DIMENSION_MISMATCH.
   */
  bindDims(id: number, dims: number, modelName: string): number {
    const known = this.dims(id);
    if (known === dims) return this.classOf(id);
    if (known !== 0) throw dimensionMismatch(modelName, known, dims);
    if (dims > MAX_DIMS) {
      throw new EmbeddingCacheError(
        'ERR_VECTOR_TOO_LARGE',
        `A vector of ${dims} floats is larger than the ${MAX_DIMS} floats one cache page holds.`,
      );
    }
    this.locks.acquire(REGISTRY_LOCK);
    try {
      const r = this.record(id);
      const now = this.ctl[r + M_DIMS]!;
      if (now !== 0) {
        if (now !== dims) throw dimensionMismatch(modelName, now, dims);
        return this.ctl[r + M_CLASS]!;
      }
      const cls = this.classFor(dims);
      this.ctl[r + M_CLASS] = cls;
      Atomics.store(this.ctl, r + M_DIMS, dims);
      return cls;
    } finally {
      this.locks.release(REGISTRY_LOCK);
    }
  }

  /** Class of `dims`, created if new. Caller holds the registry lock. */
  private classFor(dims: number): number {
    const count = Atomics.load(this.ctl, H_CLASS_COUNT);
    for (let c = 0; c < count; c++) if (this.ctl[classAt(c) + C_DIMS] === dims) return c;
    if (count >= MAX_CLASSES) {
      throw new EmbeddingCacheError(
        'ERR_CAPACITY',
        `A cache holds vectors of at most ${MAX_CLASSES} different dimensions; ${dims} would be the ${count + 1}th.`,
      );
    }
    const w = classAt(count);
    this.ctl[w + C_DIMS] = dims;
    this.ctl[w + C_SLOTS] = slotsPerPage(dims);
    this.ctl[w + C_CUR_PAGE] = -1;
    this.ctl[w + C_PAGES] = 0;
    this.ctl[w + C_FREE_HEAD] = -1; // entry id NONE, tag 0
    this.ctl[w + C_FREE_HEAD + 1] = 0;
    Atomics.store(this.ctl, H_CLASS_COUNT, count + 1);
    return count;
  }

  classDims(cls: number): number {
    return Atomics.load(this.ctl, classAt(cls) + C_DIMS);
  }

  private encodeName(name: string): Uint8Array {
    const encoded = encodeLossless(name);
    if (encoded.length > MAX_MODEL_NAME_BYTES) {
      throw new EmbeddingCacheError(
        'ERR_INVALID_ARGUMENT',
        `Model names are at most ${MAX_MODEL_NAME_BYTES} bytes of UTF-8; got ${encoded.length} bytes. Use a shorter model id.`,
      );
    }
    return encoded;
  }

  private nameEquals(id: number, encoded: Uint8Array): boolean {
    const r = this.record(id);
    if (this.ctl[r + M_NAME_LEN] !== encoded.length) return false;
    const at = (r + M_NAME) * 4;
    for (let i = 0; i < encoded.length; i++) if (this.bytes[at + i] !== encoded[i]) return false;
    return true;
  }
}

export function dimensionMismatch(model: string, expected: number, got: number): EmbeddingCacheError {
  return new EmbeddingCacheError(
    'ERR_DIMENSION_MISMATCH',
    `Model "${model}" holds ${expected}-dimensional vectors (fixed by its first vector); got one of ${got}. Store vectors of another size under another model name, or invalidate and use a new name.`,
  );
}

/** A 64-bit view of the control words (header and model records): index = word / 2, at even words. */
export function wideView(ctl: Int32Array): BigInt64Array {
  return new BigInt64Array(ctl.buffer, ctl.byteOffset, LOCKS >>> 1);
}

export function loadWide(wide: BigInt64Array, word: number): number {
  return Number(Atomics.load(wide, word >>> 1));
}

/** Atomically raises the 64-bit word at `word` (even) to v if v is larger; true if this call raised it. */
export function raiseWide(wide: BigInt64Array, word: number, v: number): boolean {
  const big = BigInt(v);
  for (;;) {
    const cur = Atomics.load(wide, word >>> 1);
    if (cur >= big) return false;
    if (Atomics.compareExchange(wide, word >>> 1, cur, big) === cur) return true;
  }
}
