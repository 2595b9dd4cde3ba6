/**
 * createCachePool(): a Piscina pool whose workers attach to the same cache and run batched
 * getMany / setMany / hashKeys against the shared memory.
 *
 * Why batches: one Piscina task costs tens of µs (a message each way, a wake-up), one in-thread
 * get well under one. So a call is cut into at most `threads` tasks of at least MIN_TASK_TEXTS
 * texts each — never one task per key — and small calls run as one task.
 *
 * Why no copies back: a worker packs every vector of its batch into one ArrayBuffer
 * (src/threads/worker.ts) and transfers it; the vectors returned here are views into that buffer (like
 * get()'s results, they may share a buffer; slice() one before transferring it elsewhere).
 * setMany packs the caller's vectors once and transfers that buffer to the worker.
 *
 * Aborting (signal): Piscina terminates the worker running the task, wherever it is — possibly
 * inside a store write holding a stripe lock. The store's lock take-over (memory/lock.ts) repairs
 * the one entry that writer was changing, so the cache stays consistent for every other thread;
 * entries of the aborted batch may or may not have been stored.
 *
 * Worker file: the pool runs dist/workers/cache-worker.js (built JS; worker threads get no TS
 * loader). From the published package that is the file next to this one's folder; when this
 * module runs from TypeScript sources (tsx, vitest) it falls back to the repository's dist/,
 * so run `npm run build` first.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { EmbeddingCache, KeyOptions, SetOptions } from '../cache.js';
import { argumentError, describe, EmbeddingCacheError, type EmbeddingCacheErrorCode } from '../errors.js';
import { packVectors, unpackVectors } from './worker.js';

export interface CachePoolOptions {
  /** Worker threads. Default: os.availableParallelism(). */
  threads?: number;
  /** Ms an idle worker lives before it exits (Piscina's idleTimeout). Default: Piscina's. */
  idleTimeout?: number;
}

export interface PoolTaskOptions {
  /** Aborting terminates the worker(s) running this call; the call rejects with an AbortError. */
  signal?: AbortSignal;
}

export interface CachePool {
  readonly threads: number;
  /** cache.getMany() run on the pool: one vector or undefined per text, in order. */
  getMany(
    texts: readonly string[],
    opts?: KeyOptions,
    task?: PoolTaskOptions,
  ): Promise<(Float32Array | undefined)[]>;
  /** cache.setMany() run on the pool. */
  setMany(
    texts: readonly string[],
    vectors: readonly ArrayLike<number>[],
    opts?: SetOptions,
    task?: PoolTaskOptions,
  ): Promise<void>;
  /** The 128-bit keys of the texts: 4 int32 words per text, in order. */
  hashKeys(texts: readonly string[], opts?: KeyOptions, task?: PoolTaskOptions): Promise<Int32Array>;
  /** Thread ids of the pool's live workers (diagnostics: an aborted task's worker is replaced). */
  threadIds(): number[];
  /**
   * Ends every worker (pending tasks reject), then waits until every disk write the workers
   * handed to the spill tier is durable — an aborted task's included (cache.flush()).
   */
  destroy(): Promise<void>;
}

/** Fewest texts worth one task (below that the message costs more than the work). */
export const MIN_TASK_TEXTS = 256;

const WORKER_CANDIDATES = ['../../workers/cache-worker.js', '../../dist/workers/cache-worker.js'];

/** The built worker file: next to dist/src (package) or in the repository's dist/ (sources). */
function workerFile(): string {
  for (const rel of WORKER_CANDIDATES) {
    const url = new URL(rel, import.meta.url);
    if (existsSync(fileURLToPath(url))) return url.href;
  }
  throw new Error(
    `createCachePool(): the built worker (dist/workers/cache-worker.js) was not found next to ${fileURLToPath(import.meta.url)}. ` +
      'Run `npm run build` first: worker threads load built JavaScript.',
  );
}

function keyOpts(o: KeyOptions | undefined): KeyOptions | undefined {
  if (o === undefined) return undefined;
  const out: KeyOptions = {};
  if (o.model !== undefined) out.model = o.model;
  if (o.chunkId !== undefined) out.chunkId = o.chunkId;
  return out;
}

function setOpts(o: SetOptions | undefined): SetOptions | undefined {
  if (o === undefined) return undefined;
  const out: SetOptions = keyOpts(o) ?? {};
  if (o.ttlMs !== undefined) out.ttlMs = o.ttlMs;
  return out;
}

/** Rethrows a cache error the worker relayed (see workers/cache-worker.ts), with its code. */
function unwrap<T>(r: unknown): T {
  if (
    typeof r === 'object' &&
    r !== null &&
    typeof (r as { relayedError?: unknown }).relayedError === 'string'
  ) {
    const e = r as { relayedError: EmbeddingCacheErrorCode; message: string };
    throw new EmbeddingCacheError(e.relayedError, e.message);
  }
  return r as T;
}

/** argumentError() for pool.<op>(). */
function poolArgumentError(op: string, rule: string, got: unknown): EmbeddingCacheError {
  return argumentError(`pool.${op}`, rule, got);
}

export function createCachePool(cache: EmbeddingCache, options: CachePoolOptions = {}): CachePool {
  if (typeof options !== 'object' || options === null)
    throw new TypeError('createCachePool(cache, options): options must be an object like { threads: 2 }.');
  const threads = options.threads ?? availableParallelism();
  if (!Number.isInteger(threads) || threads < 1)
    throw new RangeError(`options.threads must be a positive integer, got ${describe(threads)}.`);
  if (
    options.idleTimeout !== undefined &&
    (typeof options.idleTimeout !== 'number' || !(options.idleTimeout >= 0))
  ) {
    throw new RangeError(
      `options.idleTimeout must be a number of milliseconds >= 0, got ${describe(options.idleTimeout)}.`,
    );
  }
  const piscina = new Piscina({
    filename: workerFile(),
    workerData: { cache: cache.handle },
    minThreads: threads,
    maxThreads: threads,
    ...(options.idleTimeout !== undefined ? { idleTimeout: options.idleTimeout } : {}),
  });
  // Piscina reports on its own 'error' event what belongs to no task: the result of a task
  // aborted just as it finished ("Unexpected message from Worker"), or an exception in an idle
  // worker. With no listener, an EventEmitter throws it, and an abort racing a task's end would
  // crash the process. The abort race is harmless (the task's caller got its AbortError); the rest
  // is reported once.
  let warned = false;
  piscina.on('error', (err: unknown) => {
    if (err instanceof Error && err.message.startsWith('Unexpected message from Worker')) return;
    if (warned) return;
    warned = true;
    console.warn(
      `embedcache: a pool worker failed outside any task (${describe(err)}); the pool replaces it.`,
    );
  });

  /** Splits [0, n) into at most `threads` ranges of at least MIN_TASK_TEXTS. */
  const ranges = (n: number): [number, number][] => {
    const size = Math.max(MIN_TASK_TEXTS, Math.ceil(n / threads));
    const out: [number, number][] = [];
    for (let a = 0; a < n; a += size) out.push([a, Math.min(n, a + size)]);
    return out;
  };

  const checkTexts = (op: string, texts: unknown): readonly string[] => {
    if (!Array.isArray(texts)) throw poolArgumentError(op, 'texts must be an array of strings', texts);
    return texts as readonly string[];
  };

  return {
    threads,
    async getMany(texts, opts, task) {
      checkTexts('getMany', texts);
      const o = keyOpts(opts);
      const parts = await Promise.all(
        ranges(texts.length).map(([a, b]) =>
          piscina
            .run({ op: 'getMany', texts: texts.slice(a, b), opts: o }, { signal: task?.signal ?? null })
            .then((r) => unwrap<ArrayBuffer>(r)),
        ),
      );
      if (parts.length === 1) return unpackVectors(parts[0]!);
      return parts.flatMap(unpackVectors);
    },
    async setMany(texts, vectors, opts, task) {
      checkTexts('setMany', texts);
      if (!Array.isArray(vectors))
        throw poolArgumentError('setMany', 'vectors must be an array of vectors', vectors);
      if (vectors.length !== texts.length) {
        throw new EmbeddingCacheError(
          'ERR_INVALID_ARGUMENT',
          `pool.setMany(): got ${texts.length} texts and ${vectors.length} vectors; pass one vector per text.`,
        );
      }
      const o = setOpts(opts);
      await Promise.all(
        ranges(texts.length).map(([a, b]) => {
          const buffer = packVectors(vectors.slice(a, b));
          return piscina
            .run(
              { op: 'setMany', texts: texts.slice(a, b), vectors: buffer, opts: o },
              { transferList: [buffer], signal: task?.signal ?? null },
            )
            .then((r) => unwrap<number>(r));
        }),
      );
    },
    async hashKeys(texts, opts, task) {
      checkTexts('hashKeys', texts);
      const o = keyOpts(opts);
      const parts = await Promise.all(
        ranges(texts.length).map(([a, b]) =>
          piscina
            .run({ op: 'hashKeys', texts: texts.slice(a, b), opts: o }, { signal: task?.signal ?? null })
            .then((r) => unwrap<ArrayBuffer>(r)),
        ),
      );
      if (parts.length === 1) return new Int32Array(parts[0]!);
      const out = new Int32Array(texts.length * 4);
      let at = 0;
      for (const p of parts) {
        const words = new Int32Array(p);
        out.set(words, at);
        at += words.length;
      }
      return out;
    },
    threadIds() {
      return piscina.threads.map((t) => t.threadId);
    },
    async destroy() {
      await piscina.destroy();
      try {
        await cache.flush();
      } catch (err) {
        // A cache closed first has flushed already.
        if (!(err instanceof EmbeddingCacheError && err.code === 'ERR_CLOSED')) throw err;
      }
    },
  };
}
