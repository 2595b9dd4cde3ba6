/**
 * LlamaIndex.TS adapter: CachedEmbedding wraps any `BaseEmbedding` (OpenAIEmbedding,
 * OllamaEmbedding, HuggingFaceEmbedding, …) with an embedcache, so a node or query already
 * embedded by any thread attached to the cache is never sent to the model again.
 *
 *   const embedModel = new CachedEmbedding({ cache, embedding: new OpenAIEmbedding({ model: 'text-embedding-3-small' }) })
 *   const pipeline = new IngestionPipeline({ transformations: [new SentenceSplitter(), embedModel] })
 *
 * Documents — getTextEmbedding, getTextEmbeddings, getTextEmbeddingsBatch, and the wrapper called
 * as a transformation on nodes (what an ingestion pipeline or a vector store index does) — go
 * through getOrCompute: deduplicated, single-flight across threads, and only the misses reach
 * the wrapped model, in batches of its `embedBatchSize` (the wrapper's `embedBatchSize` reads and
 * writes the wrapped model's). A node's text is `node.getContent(MetadataMode.EMBED)`, as in
 * LlamaIndex itself.
 *
 * Text queries (getQueryEmbedding) are cached too, under their own key space (a chunk id reserved
 * for queries), because some models embed a query differently from the same text as a document.
 * Image queries, and image nodes when the wrapped model is multimodal (has getImageEmbeddings),
 * go to the wrapped model uncached.
 *
 * The model name is part of every key: two configurations of one class that give different
 * vectors (another model, another `dimensions`) must use different names. It defaults to the
 * wrapped object's `model`, `modelName` or `modelType` field prefixed by its class name; pass
 * `model` when it has none of them or when that is not specific enough.
 *
 * `@llamaindex/core` is an optional peer dependency: only this module imports it.
 */
import { BaseEmbedding, type BaseEmbeddingOptions, type EmbeddingInfo } from '@llamaindex/core/embeddings';
import type { MessageContentDetail } from '@llamaindex/core/llms';
import { MetadataMode, ObjectType, type BaseNode } from '@llamaindex/core/schema';
import type { EmbeddingCache } from '../cache.js';
import { describe } from '../errors.js';

export interface CachedEmbeddingOptions {
  /** The cache (open() or attach()). */
  cache: EmbeddingCache;
  /** The embedding model to call on a miss. */
  embedding: BaseEmbedding;
  /** Model name keying the entries. Default: derived from `embedding` (see above). */
  model?: string;
  /** Cache getQueryEmbedding() results too. Default: true. */
  cacheQueries?: boolean;
  /** Time to live of new entries in ms (0 = never expires). Default: the cache's ttlMs. */
  ttlMs?: number;
}

/** Reserved chunk id of query entries (a NUL prefix no document chunk id is expected to use). */
export const QUERY_CHUNK_ID = '\u0000llamaindex:query';

function deriveModel(embedding: BaseEmbedding): string {
  const e = embedding as unknown as { model?: unknown; modelName?: unknown; modelType?: unknown };
  const name = [e.model, e.modelName, e.modelType].find(
    (n): n is string => typeof n === 'string' && n.length > 0,
  );
  if (name === undefined) {
    throw new TypeError(
      'CachedEmbedding: options.model is required: the wrapped embedding has no `model`, `modelName` or `modelType` string to key the cache by. ' +
        "Pass the model's name, e.g. { model: 'text-embedding-3-small' }.",
    );
  }
  return `${(embedding as object).constructor?.name ?? 'BaseEmbedding'}:${name}`;
}

function isImageNode(node: BaseNode): boolean {
  return node.type === ObjectType.IMAGE || node.type === ObjectType.IMAGE_DOCUMENT;
}

export class CachedEmbedding extends BaseEmbedding {
  readonly cache: EmbeddingCache;
  readonly embedding: BaseEmbedding;
  /** The model name the entries are keyed by. */
  readonly model: string;
  readonly cacheQueries: boolean;
  private readonly ttlMs: number | undefined;

  /** Documents through the cache (BaseEmbedding sets this one as an own property, not a method). */
  override getTextEmbeddings = (texts: string[]): Promise<number[][]> => this.embedTexts(texts);

  constructor(options: CachedEmbeddingOptions) {
    // The transformation (called on nodes) needs `this`, which exists only after super().
    const ref: { self?: CachedEmbedding } = {};
    super((nodes, opts) => ref.self!.embedNodes(nodes, opts));
    ref.self = this;
    if (typeof options !== 'object' || options === null)
      throw new TypeError(
        'new CachedEmbedding(options): options must be an object like { cache, embedding }.',
      );
    const { cache, embedding, model, cacheQueries, ttlMs } = options;
    if (typeof cache !== 'object' || cache === null || typeof cache.getOrCompute !== 'function') {
      throw new TypeError(
        `CachedEmbedding: options.cache must be an EmbeddingCache, got ${describe(cache)}.`,
      );
    }
    // A BaseEmbedding is a function (a TransformComponent), not a plain object.
    if (
      (typeof embedding !== 'function' && typeof embedding !== 'object') ||
      embedding === null ||
      typeof embedding.getTextEmbedding !== 'function' ||
      typeof embedding.getTextEmbeddings !== 'function' ||
      typeof embedding.getQueryEmbedding !== 'function'
    ) {
      throw new TypeError(
        `CachedEmbedding: options.embedding must be a BaseEmbedding (getTextEmbedding, getTextEmbeddings, getQueryEmbedding), got ${describe(embedding)}.`,
      );
    }
    if (model !== undefined && (typeof model !== 'string' || model.length === 0)) {
      throw new TypeError(
        `CachedEmbedding: options.model must be a non-empty string, got ${describe(model)}.`,
      );
    }
    if (cacheQueries !== undefined && typeof cacheQueries !== 'boolean') {
      throw new TypeError(
        `CachedEmbedding: options.cacheQueries must be a boolean, got ${describe(cacheQueries)}.`,
      );
    }
    this.cache = cache;
    this.embedding = embedding;
    this.model = model ?? deriveModel(embedding);
    this.cacheQueries = cacheQueries ?? true;
    this.ttlMs = ttlMs;
    // The wrapped model's batch size and info, read and written through (BaseEmbedding declares
    // them as plain properties, so they cannot be overridden as accessors in the class body).
    Object.defineProperty(this, 'embedBatchSize', {
      get: () => embedding.embedBatchSize,
      set: (n: number) => {
        embedding.embedBatchSize = n;
      },
      enumerable: true,
      configurable: true,
    });
    Object.defineProperty(this, 'embedInfo', {
      get: (): EmbeddingInfo | undefined => embedding.embedInfo,
      enumerable: true,
      configurable: true,
    });
  }

  override async getTextEmbedding(text: string): Promise<number[]> {
    const [v] = await this.cache.getOrCompute(
      [text],
      async (missing) => [await this.embedding.getTextEmbedding(missing[0]!)],
      this.keyOptions(),
    );
    return Array.from(v!);
  }

  override async getTextEmbeddingsBatch(
    texts: string[],
    options?: BaseEmbeddingOptions,
  ): Promise<number[][]> {
    return this.embedTexts(texts, options);
  }

  override async getQueryEmbedding(query: MessageContentDetail): Promise<number[] | null> {
    if (!this.cacheQueries || query?.type !== 'text') return this.embedding.getQueryEmbedding(query);
    let none = false;
    try {
      const [v] = await this.cache.getOrCompute(
        [query.text],
        async () => {
          const v = await this.embedding.getQueryEmbedding(query);
          if (v === null) {
            none = true;
            throw new Error('the wrapped embedding returned no query embedding');
          }
          return [v];
        },
        { ...this.keyOptions(), chunkId: QUERY_CHUNK_ID },
      );
      return Array.from(v!);
    } catch (e) {
      if (none) return null;
      throw e;
    }
  }

  /** Documents through getOrCompute, in batches of the wrapped model's embedBatchSize. */
  private async embedTexts(texts: string[], options?: BaseEmbeddingOptions): Promise<number[][]> {
    let embedded = 0;
    const logger = options?.logger ?? (options?.logProgress ? console : undefined);
    const vectors = await this.cache.getOrCompute(
      texts,
      async (missing) => {
        const out = await this.embedding.getTextEmbeddings(missing);
        embedded += missing.length;
        options?.progressCallback?.(embedded, texts.length);
        logger?.log(`getting embedding progress: ${embedded} texts embedded, ${texts.length} asked for`);
        return out;
      },
      { ...this.keyOptions(), batchSize: this.embedding.embedBatchSize },
    );
    if (embedded < texts.length) options?.progressCallback?.(texts.length, texts.length);
    return vectors.map((v) => Array.from(v));
  }

  /** The transformation: text nodes through the cache; images to a multimodal model, uncached. */
  private async embedNodes(nodes: BaseNode[], options?: BaseEmbeddingOptions): Promise<BaseNode[]> {
    const multimodal =
      typeof (this.embedding as { getImageEmbeddings?: unknown }).getImageEmbeddings === 'function';
    const images = multimodal ? nodes.filter(isImageNode) : [];
    const texts = images.length > 0 ? nodes.filter((n) => !isImageNode(n)) : nodes;
    const vectors = await this.embedTexts(
      texts.map((n) => n.getContent(MetadataMode.EMBED)),
      options,
    );
    texts.forEach((n, i) => {
      n.embedding = vectors[i];
    });
    if (images.length > 0) await this.embedding(images, options);
    return nodes;
  }

  private keyOptions(): { model: string; ttlMs?: number } {
    return { model: this.model, ...(this.ttlMs !== undefined ? { ttlMs: this.ttlMs } : {}) };
  }
}
