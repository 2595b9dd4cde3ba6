/**
 * LangChain.js adapter: CachedEmbeddings wraps any `Embeddings` (OpenAI, Ollama, a local
 * model, …) with an embedcache, so a document or query already embedded by any thread attached
 * to the cache is never sent to the model again.
 *
 *   const embeddings = new CachedEmbeddings({ cache, embeddings: new OpenAIEmbeddings(), model: 'text-embedding-3-small' })
 *   const store = await MemoryVectorStore.fromDocuments(docs, embeddings)
 *
 * embedDocuments goes through getOrCompute (dedupe, batching, single-flight across threads);
 * embedQuery is cached too, under its own key space (a chunk id reserved for queries), because
 * some models embed a query differently from the same text as a document.
 *
 * The model name is part of every key: two configurations of one class that give different
 * vectors (another model, another `dimensions`) must use different names. It defaults to the
 * wrapped object's `model` or `modelName` field prefixed by its class name; pass `model` when
 * it has neither or when that is not specific enough.
 *
 * `@langchain/core` is an optional peer dependency: only this module imports it.
 */
import { Embeddings, type EmbeddingsInterface, type EmbeddingsParams } from '@langchain/core/embeddings';
import type { EmbeddingCache } from '../cache.js';
import { describe } from '../errors.js';

export interface CachedEmbeddingsOptions extends EmbeddingsParams {
  /** The cache (open() or attach()). */
  cache: EmbeddingCache;
  /** The embeddings to call on a miss. */
  embeddings: EmbeddingsInterface;
  /** Model name keying the entries. Default: derived from `embeddings` (see above). */
  model?: string;
  /** Cache embedQuery() results too. Default: true. */
  cacheQueries?: boolean;
  /** Most texts per call to the wrapped embedDocuments(). Default: 128. */
  batchSize?: number;
  /** Time to live of new entries in ms (0 = never expires). Default: the cache's ttlMs. */
  ttlMs?: number;
}

/** Reserved chunk id of query entries (a NUL prefix no document chunk id is expected to use). */
export const QUERY_CHUNK_ID = '\u0000langchain:query';

function deriveModel(embeddings: EmbeddingsInterface): string {
  const e = embeddings as unknown as { model?: unknown; modelName?: unknown };
  const name =
    typeof e.model === 'string' && e.model.length > 0
      ? e.model
      : typeof e.modelName === 'string' && e.modelName.length > 0
        ? e.modelName
        : undefined;
  if (name === undefined) {
    throw new TypeError(
      'CachedEmbeddings: options.model is required: the wrapped embeddings have no `model` or `modelName` string to key the cache by. ' +
        "Pass the model's name, e.g. { model: 'text-embedding-3-small' }.",
    );
  }
  return `${(embeddings as object).constructor?.name ?? 'Embeddings'}:${name}`;
}

export class CachedEmbeddings extends Embeddings {
  readonly cache: EmbeddingCache;
  readonly embeddings: EmbeddingsInterface;
  /** The model name the entries are keyed by. */
  readonly model: string;
  readonly cacheQueries: boolean;
  private readonly batchSize: number | undefined;
  private readonly ttlMs: number | undefined;

  constructor(options: CachedEmbeddingsOptions) {
    if (typeof options !== 'object' || options === null)
      throw new TypeError(
        'new CachedEmbeddings(options): options must be an object like { cache, embeddings, model }.',
      );
    const { cache, embeddings, model, cacheQueries, batchSize, ttlMs, ...params } = options;
    super(params);
    if (typeof cache !== 'object' || cache === null || typeof cache.getMany !== 'function') {
      throw new TypeError(
        `CachedEmbeddings: options.cache must be an EmbeddingCache, got ${describe(cache)}.`,
      );
    }
    if (
      typeof embeddings !== 'object' ||
      embeddings === null ||
      typeof embeddings.embedDocuments !== 'function' ||
      typeof embeddings.embedQuery !== 'function'
    ) {
      throw new TypeError(
        `CachedEmbeddings: options.embeddings must be an Embeddings object (embedDocuments and embedQuery), got ${describe(embeddings)}.`,
      );
    }
    if (model !== undefined && (typeof model !== 'string' || model.length === 0)) {
      throw new TypeError(
        `CachedEmbeddings: options.model must be a non-empty string, got ${describe(model)}.`,
      );
    }
    if (cacheQueries !== undefined && typeof cacheQueries !== 'boolean') {
      throw new TypeError(
        `CachedEmbeddings: options.cacheQueries must be a boolean, got ${describe(cacheQueries)}.`,
      );
    }
    this.cache = cache;
    this.embeddings = embeddings;
    this.model = model ?? deriveModel(embeddings);
    this.cacheQueries = cacheQueries ?? true;
    this.batchSize = batchSize;
    this.ttlMs = ttlMs;
  }

  override async embedDocuments(documents: string[]): Promise<number[][]> {
    const vectors = await this.cache.getOrCompute(
      documents,
      (missing) => this.embeddings.embedDocuments(missing),
      {
        model: this.model,
        ...(this.batchSize !== undefined ? { batchSize: this.batchSize } : {}),
        ...(this.ttlMs !== undefined ? { ttlMs: this.ttlMs } : {}),
      },
    );
    return vectors.map((v) => Array.from(v));
  }

  override async embedQuery(document: string): Promise<number[]> {
    if (!this.cacheQueries) return this.embeddings.embedQuery(document);
    const [v] = await this.cache.getOrCompute(
      [document],
      async (missing) => [await this.embeddings.embedQuery(missing[0]!)],
      {
        model: this.model,
        chunkId: QUERY_CHUNK_ID,
        ...(this.ttlMs !== undefined ? { ttlMs: this.ttlMs } : {}),
      },
    );
    return Array.from(v!);
  }
}
