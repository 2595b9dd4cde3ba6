/**
 * The model catalog: the file's model-name → (id, generation, dims) records in embedcache-meta,
 * and the one thing an instance caches about them. Apart from tier.ts because it is the only
 * state an instance keeps that other threads and processes can change under it, and the rules
 * for when to re-read it are what keep threads consistent.
 *
 * Invalidation is O(1). `invalidate` bumps the model's generation in its meta record (one small
 * synchronous transaction, whatever the number of records); every record key carries the
 * generation, so old records are out of reach at once. A background sweep (maintenance.ts)
 * deletes the old generations' key ranges in bounded batches. New model ids are allocated and
 * dims fixed in short synchronous transactions too, once per model per file.
 *
 * Threads and processes. Each thread caches each model's (id, generation, dims). It re-reads
 * them (after renewing its read snapshot) when the caller passes a memory-tier generation for
 * the model that differs from the one it last saw, and at least every MODEL_REFRESH_MS in any
 * case. So the cache bumps the disk generation first (invalidateModel) and publishes its memory
 * generation after: a thread that sees the new memory generation then also finds the new disk
 * generation. Model ids are allocated inside write transactions, so two processes on one path
 * never share one; an invalidation in one process reaches the other's spill reads within
 * MODEL_REFRESH_MS, but not its memory tier.
 */
import { EmbeddingCacheError } from '../errors.js';
import {
  MAX_U32,
  META_NEXT_MODEL_KEY,
  MODEL_END,
  MODEL_PREFIX,
  decodeModelMeta,
  decodeU32,
  encodeModelMeta,
  encodeU32,
  type ModelMeta,
} from './format.js';
import type { Fail, SpillDbs } from './types.js';

/** How often an instance re-reads a model's generation even without a hint from the cache. */
export const MODEL_REFRESH_MS = 1000;

/** What an instance knows of a model; id 0 = not in the file (as of checkedMs). */
export interface ModelState {
  id: number;
  generation: number;
  dims: number;
  memGen: number | undefined;
  checkedMs: number;
}

/** The models recorded in the file, as (name, meta); undecodable records are skipped. Lazy. */
export function* storedModels(meta: SpillDbs['meta']): Generator<[string, ModelMeta]> {
  for (const { key, value } of meta.getRange({ start: MODEL_PREFIX, end: MODEL_END })) {
    const m = decodeModelMeta(value);
    if (m !== undefined) yield [key.slice(MODEL_PREFIX.length), m];
  }
}

/** Takes a stored model record into an instance's state (and, given, the time it was read). */
function adopt(state: ModelState, stored: ModelMeta, checkedMs?: number): void {
  state.id = stored.id;
  state.generation = stored.generation;
  state.dims = stored.dims;
  if (checkedMs !== undefined) state.checkedMs = checkedMs;
}

/** What the catalog needs from the rest of the tier. */
export interface CatalogHooks {
  /** Hands queued writes to LMDB: old-generation writes must land before a sweep may call the file clean. */
  drain(): void;
  /** Some model has records under an older generation now: sweep them in the background. */
  requestSweep(): void;
  fail: Fail;
}

export class ModelCatalog {
  private readonly states = new Map<string, ModelState>();
  /** Models whose invalidation failed on disk: never read or written by this instance again. */
  private readonly disabledModels = new Set<string>();
  /** Set when clear() failed on disk: the instance no longer reads or writes at all. */
  private disabledAll = false;

  constructor(
    private readonly dbs: Pick<SpillDbs, 'root' | 'meta'>,
    /** The file's folder, for error messages. */
    private readonly path: string,
    private readonly hooks: CatalogHooks,
  ) {}

  /** True when this instance must neither read nor write `model` (a failed invalidation or clear). */
  isDisabled(model: string): boolean {
    return this.disabledAll || (this.disabledModels.size !== 0 && this.disabledModels.has(model));
  }

  private read(model: string): ModelMeta | undefined {
    const bytes = this.dbs.meta.getBinary(MODEL_PREFIX + model);
    return bytes === undefined ? undefined : decodeModelMeta(bytes);
  }

  /**
   * The instance's view of a model, re-read when the cache's memory generation moved or the
   * last read is older than MODEL_REFRESH_MS. With `create`, a model the file lacks is added
   * (one synchronous transaction, once per model per file).
   */
  state(model: string, now: number, memGen: number | undefined, create: boolean): ModelState {
    let state = this.states.get(model);
    if (state === undefined) {
      // A fresh snapshot: the state is tagged with memGen, so it must not predate the disk
      // generation that went with it (this thread's snapshot may be older than its last turn).
      this.dbs.root.resetReadTxn();
      const stored = this.read(model);
      state = {
        id: stored?.id ?? 0,
        generation: stored?.generation ?? 0,
        dims: stored?.dims ?? 0,
        memGen,
        checkedMs: now,
      };
      this.states.set(model, state);
    } else if (
      (memGen !== undefined && memGen !== state.memGen) ||
      now - state.checkedMs >= MODEL_REFRESH_MS ||
      now < state.checkedMs
    ) {
      // Another thread may have committed a new generation after our read snapshot began.
      this.dbs.root.resetReadTxn();
      const stored = this.read(model);
      if (stored !== undefined) {
        if (state.id !== 0 && stored.generation !== state.generation) this.hooks.requestSweep();
        adopt(state, stored);
      }
      state.memGen = memGen ?? state.memGen;
      state.checkedMs = now;
    }
    if (state.id === 0 && create) {
      const meta = this.dbs.meta;
      adopt(
        state,
        meta.transactionSync(() => {
          const existing = this.read(model);
          if (existing !== undefined) return existing;
          const id = Math.max(1, decodeU32(meta.getBinary(META_NEXT_MODEL_KEY) ?? new Uint8Array(0)));
          if (id >= MAX_U32) throw new RangeError('The spill file has no model ids left.');
          const created: ModelMeta = { id, generation: 0, dims: 0 };
          meta.putSync(MODEL_PREFIX + model, encodeModelMeta(created));
          meta.putSync(META_NEXT_MODEL_KEY, encodeU32(id + 1));
          return created;
        }),
      );
    }
    return state;
  }

  /**
   * The model's state read afresh from the current read snapshot, forgetting the cached one:
   * "not in the file" may be up to MODEL_REFRESH_MS old. The caller renews the snapshot.
   */
  reread(model: string, now: number, memGen: number | undefined): ModelState {
    this.states.delete(model);
    return this.state(model, now, memGen, false);
  }

  /** Fixes the model's dims on disk if unset; returns the dims in force. */
  fixDims(model: string, state: ModelState, dims: number): number {
    if (state.dims !== 0) return state.dims;
    const stored = this.dbs.meta.transactionSync(() => {
      const current = this.read(model);
      if (current === undefined) return undefined;
      if (current.dims === 0) {
        current.dims = dims;
        this.dbs.meta.putSync(MODEL_PREFIX + model, encodeModelMeta(current));
      }
      return current;
    });
    // The record's id is the one `state` already holds: ids never change once allocated.
    if (stored !== undefined) adopt(state, stored);
    return state.dims;
  }

  /**
   * A model's dims are fixed on disk as they are in memory: the first vector (or this call)
   * fixes them, and a different count throws ERR_DIMENSION_MISMATCH. invalidate frees them.
   */
  checkDims(model: string, dims: number): void {
    let fixed: number;
    try {
      fixed = this.fixDims(model, this.state(model, Date.now(), undefined, true), dims);
    } catch (err) {
      this.hooks.fail('checkDims', err, 1); // a disk fault: enqueue will count its own failures
      return;
    }
    if (fixed !== dims) {
      throw new EmbeddingCacheError(
        'ERR_DIMENSION_MISMATCH',
        `Model '${model}' has ${fixed}-dimensional vectors in the spill file at ${this.path}; got ${dims}. Use another model name, or invalidateModel('${model}') first.`,
      );
    }
  }

  /**
   * Bumps `model`'s disk generation and frees its dims (see SpillTier.invalidateModel). Never
   * throws; false, and the model disabled for this instance, if the disk could not be updated.
   */
  invalidate(model: string): boolean {
    return this.bump(
      'invalidateModel',
      // Always through a write transaction: it reads the latest model record, whatever this
      // instance's view (another thread may have created the model a moment ago).
      () => {
        const current = this.read(model);
        if (current === undefined) return undefined; // no record of this model was ever written
        return [[model, this.writeNextGeneration(model, current)]];
      },
      // The old records are still reachable on disk. This instance stops using the disk for
      // the model, and says so; the cache decides what the other threads do.
      () => this.disabledModels.add(model),
    );
  }

  /**
   * Bumps every model's disk generation and frees their dims, in one transaction (see
   * SpillTier.clear). Never throws; false, and the disk disabled for this instance, on failure.
   */
  clear(): boolean {
    return this.bump(
      'clear',
      () =>
        Array.from(storedModels(this.dbs.meta)).map(([model, current]) => [
          model,
          this.writeNextGeneration(model, current),
        ]),
      () => {
        this.disabledAll = true;
      },
    );
  }

  /** Inside a write transaction: stores `current`'s next generation, dims freed. */
  private writeNextGeneration(model: string, current: ModelMeta): ModelMeta {
    const next: ModelMeta = { id: current.id, generation: (current.generation + 1) % MAX_U32, dims: 0 };
    this.dbs.meta.putSync(MODEL_PREFIX + model, encodeModelMeta(next));
    return next;
  }

  /**
   * Drains the queue, runs `bumpAll` in one synchronous write transaction, takes the bumped
   * records into the cached states and asks for a sweep. `bumpAll` returns undefined when there
   * was nothing to bump (then no sweep). On failure, `disable` runs and the fault is counted.
   */
  private bump(what: string, bumpAll: () => [string, ModelMeta][] | undefined, disable: () => void): boolean {
    let bumped: [string, ModelMeta][] | undefined;
    try {
      this.hooks.drain(); // queued old-generation writes must land before the sweep may call the file clean
      bumped = this.dbs.meta.transactionSync(bumpAll);
    } catch (err) {
      disable();
      this.hooks.fail(what, err, 1);
      return false;
    }
    if (bumped === undefined) return true;
    const now = Date.now();
    for (const [model, stored] of bumped) {
      const state = this.states.get(model);
      if (state !== undefined) adopt(state, stored, now);
    }
    this.hooks.requestSweep();
    return true;
  }
}
