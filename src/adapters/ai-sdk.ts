/**
 * Vercel AI SDK adapter: a middleware for `wrapEmbeddingModel`, so that `embed()` and
 * `embedMany()` answer hits from an embedcache and send only the unique misses to the model.
 *
 *   const model = wrapEmbeddingModel({ model: openai.embedding('text-embedding-3-small'), middleware: embedcacheMiddleware({ cache }) })
 *   const { embeddings, usage } = await embedMany({ model, values })
 *
 * Each call of the wrapped model's doEmbed goes through getOrCompute (dedupe, batching,
 * single-flight across threads): the inner model's doEmbed is called with the unique misses
 * only, in input order, in calls of at most its `maxEmbeddingsPerCall`, with the call's other
 * parameters (dimensions, providerOptions, headers, abortSignal) unchanged. The result has one
 * embedding per value, in input order, at float32 precision (as stored) whether hit or miss;
 * `usage.tokens` is the sum over the inner calls made (0 when every value hit; absent, as the
 * SDK reports it, when the model reports none). A model error propagates unchanged, so `embed()`
 * and `embedMany()` throw (and retry) exactly as without the middleware, and nothing is stored
 * for the failed texts.
 *
 * Key: the entries of a call are stored under one cache model name, by default
 *   `${provider}:${modelId}` [`;dimensions=${dimensions}`] [`;options=${digest}`]
 * where `digest` is the first 16 hex digits of the SHA-256 of `providerOptions` as canonical JSON
 * (object keys sorted at every depth, undefined members dropped; provider entries that are empty
 * objects and an empty `providerOptions` count as absent). So another `dimensions` or any other
 * provider option gives other entries; headers and the abort signal are not part of the key.
 * `model` replaces the `${provider}:${modelId}` part (for a model id that names a deployment
 * rather than the model, or to share entries between providers of one model); `cacheKey`
 * replaces the whole name (for example to drop a provider option that does not change the
 * vectors). Each distinct name is one of the cache's models (at most 256 per cache, names of at
 * most 192 bytes). Vectors the cache refuses (NaN, ±Infinity, another dimension under the same
 * name) reject with the cache's ERR_EMBED_FAILED, as with getOrCompute.
 *
 * Per-value provider options (a model that slices its providerOptions per batch through the SDK's
 * experimental providerOptionsTransformer, such as Google's multimodal `content`) cannot follow
 * a subset of the values: a call of two or more values whose options differ per value is passed
 * to the model unchanged, uncached.
 *
 * `ai` is an optional peer dependency: this module imports only its types, and loads it only to
 * throw InvalidResponseDataError when a model returns the wrong number of embeddings.
 */
import { createHash } from 'node:crypto';
import type { EmbeddingModelMiddleware } from 'ai';
import type { EmbeddingCache } from '../cache.js';
import { describe } from '../errors.js';

type WrapEmbed = NonNullable<EmbeddingModelMiddleware['wrapEmbed']>;
type WrapEmbedOptions = Parameters<WrapEmbed>[0];
type InnerModel = WrapEmbedOptions['model'];
type CallParams = WrapEmbedOptions['params'];
type EmbedResult = Awaited<ReturnType<WrapEmbed>>;
/** `providerOptions` of an embedding call: provider name → options object. */
export type ProviderOptions = NonNullable<CallParams['providerOptions']>;

/** What the entries of one doEmbed call are keyed by. */
export interface CacheKeyInput {
  /** `options.model` when given, else `${provider}:${modelId}`. */
  name: string;
  /** The wrapped model's provider, e.g. 'openai.embedding'. */
  provider: string;
  /** The wrapped model's id, e.g. 'text-embedding-3-small'. */
  modelId: string;
  /** The call's `dimensions`. */
  dimensions: number | undefined;
  /** The call's `providerOptions`. */
  providerOptions: ProviderOptions | undefined;
}

export interface EmbedcacheMiddlewareOptions {
  /** The cache (open() or attach()). */
  cache: EmbeddingCache;
  /** Replaces `${provider}:${modelId}` in the key; dimensions and provider options still count. */
  model?: string;
  /** Returns the whole cache model name of a call (at most 192 bytes of UTF-8). Default: defaultCacheKey. */
  cacheKey?: (call: CacheKeyInput) => string;
  /** Time to live of new entries in ms (0 = never expires). Default: the cache's ttlMs. */
  ttlMs?: number;
}

/** Symbol.for key of the SDK's experimental per-batch provider options transformer. */
const OPTIONS_TRANSFORMER = Symbol.for('vercel.ai.embeddingModel.providerOptionsTransformer');

type OptionsTransformer = (options: {
  providerOptions: ProviderOptions | undefined;
  values: string[];
  startIndex: number;
  endIndex: number;
}) => ProviderOptions | undefined | PromiseLike<ProviderOptions | undefined>;

/** JSON with object keys sorted at every depth and undefined members dropped. */
function canonicalJson(value: unknown): string {
  if (typeof value !== 'object' || value === null) return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value))
    return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  const o = value as Record<string, unknown>;
  const keys = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`).join(',')}}`;
}

/** Canonical JSON of the provider options that are set, or undefined when none is. */
function canonicalOptions(providerOptions: ProviderOptions | undefined): string | undefined {
  if (typeof providerOptions !== 'object' || providerOptions === null) return undefined;
  const set: Record<string, unknown> = {};
  let any = false;
  for (const [provider, options] of Object.entries(providerOptions)) {
    if (options === undefined) continue;
    if (typeof options === 'object' && options !== null && canonicalJson(options) === '{}') continue;
    set[provider] = options;
    any = true;
  }
  return any ? canonicalJson(set) : undefined;
}

/**
 * The default cache model name of a call: `name`, then `;dimensions=N` when dimensions are set,
 * then `;options=` and 16 hex digits of the SHA-256 of the canonical provider options when any
 * is set. E.g. 'openai.embedding:text-embedding-3-small;dimensions=256'.
 */
export function defaultCacheKey(call: CacheKeyInput): string {
  let key = call.name;
  if (call.dimensions !== undefined) key += `;dimensions=${call.dimensions}`;
  const options = canonicalOptions(call.providerOptions);
  if (options !== undefined) {
    key += `;options=${createHash('sha256').update(options).digest('hex').slice(0, 16)}`;
  }
  return key;
}

/** True when the model slices this call's provider options per value (see above), or may. */
async function hasPerValueOptions(model: InnerModel, params: CallParams): Promise<boolean> {
  if (params.values.length < 2 || canonicalOptions(params.providerOptions) === undefined) return false;
  const transform = (model as unknown as Record<symbol, unknown>)[OPTIONS_TRANSFORMER];
  if (typeof transform !== 'function') return false;
  try {
    const first = await (transform as OptionsTransformer)({
      providerOptions: params.providerOptions,
      values: params.values,
      startIndex: 0,
      endIndex: 1,
    });
    return canonicalOptions(first) !== canonicalOptions(params.providerOptions);
  } catch {
    return true; // cannot tell: leave the call to the model as it is
  }
}

/** Texts per inner doEmbed call: the model's limit, else the whole call. */
async function batchSizeOf(model: InnerModel, values: number): Promise<number> {
  const limit = await model.maxEmbeddingsPerCall;
  const all = Math.max(1, values);
  return typeof limit === 'number' && Number.isInteger(limit) && limit > 0 ? Math.min(limit, all) : all;
}

type InnerResult = Awaited<ReturnType<InnerModel['doEmbed']>>;

/** The answer to the SDK: all vectors in input order, usage and metadata of the inner calls. */
function combine(vectors: readonly Float32Array[], calls: readonly InnerResult[]): EmbedResult {
  const embeddings = vectors.map((v) => Array.from(v));
  if (calls.length === 0) return { embeddings, usage: { tokens: 0 }, warnings: [] };
  let tokens: number | undefined = 0;
  const warnings: EmbedResult['warnings'] = [];
  let providerMetadata: EmbedResult['providerMetadata'];
  for (const c of calls) {
    tokens = tokens !== undefined && c.usage !== undefined ? tokens + c.usage.tokens : undefined;
    if (c.warnings !== undefined) warnings.push(...c.warnings);
    if (c.providerMetadata !== undefined) {
      providerMetadata ??= {};
      for (const [provider, metadata] of Object.entries(c.providerMetadata)) {
        providerMetadata[provider] = { ...providerMetadata[provider], ...metadata };
      }
    }
  }
  const response = calls[calls.length - 1]!.response;
  return {
    embeddings,
    ...(tokens !== undefined ? { usage: { tokens } } : {}),
    warnings,
    ...(providerMetadata !== undefined ? { providerMetadata } : {}),
    ...(response !== undefined ? { response } : {}),
  };
}

/**
 * Returns the middleware: pass it to `wrapEmbeddingModel({ model, middleware })` from 'ai'.
 * Options are validated here (TypeError).
 */
export function embedcacheMiddleware(options: EmbedcacheMiddlewareOptions): EmbeddingModelMiddleware {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('embedcacheMiddleware(options): options must be an object like { cache }.');
  }
  const { cache, model, cacheKey, ttlMs } = options;
  if (typeof cache !== 'object' || cache === null || typeof cache.getOrCompute !== 'function') {
    throw new TypeError(
      `embedcacheMiddleware: options.cache must be an EmbeddingCache, got ${describe(cache)}.`,
    );
  }
  if (model !== undefined && (typeof model !== 'string' || model.length === 0)) {
    throw new TypeError(
      `embedcacheMiddleware: options.model must be a non-empty string, got ${describe(model)}.`,
    );
  }
  if (cacheKey !== undefined && typeof cacheKey !== 'function') {
    throw new TypeError(
      `embedcacheMiddleware: options.cacheKey must be a function (call) => string, got ${describe(cacheKey)}.`,
    );
  }
  const keyOf = cacheKey ?? defaultCacheKey;

  const wrapEmbed = async ({ doEmbed, params, model: inner }: WrapEmbedOptions): Promise<EmbedResult> => {
    if (await hasPerValueOptions(inner, params)) return doEmbed();
    const name = keyOf({
      name: model ?? `${inner.provider}:${inner.modelId}`,
      provider: inner.provider,
      modelId: inner.modelId,
      dimensions: params.dimensions,
      providerOptions: params.providerOptions,
    });
    if (typeof name !== 'string' || name.length === 0) {
      throw new TypeError(
        `embedcacheMiddleware: options.cacheKey must return a non-empty string, got ${describe(name)}.`,
      );
    }
    const calls: InnerResult[] = [];
    // What the model threw (or what the SDK would throw for its answer): getOrCompute wraps it
    // in ERR_EMBED_FAILED, the SDK's caller must see it as it is.
    let failure: { error: unknown } | undefined;
    const embed = async (missing: string[]): Promise<InnerResult['embeddings']> => {
      let result: InnerResult;
      try {
        result = await inner.doEmbed({ ...params, values: missing });
      } catch (error) {
        failure = { error };
        throw error;
      }
      calls.push(result);
      const got = result?.embeddings;
      if (!Array.isArray(got) || got.length !== missing.length) {
        const { InvalidResponseDataError } = await import('ai');
        const error = new InvalidResponseDataError({
          data: got,
          message: `Expected ${missing.length} embeddings, but received ${Array.isArray(got) ? got.length : describe(got)}.`,
        });
        failure = { error };
        throw error;
      }
      return got;
    };
    let vectors: Float32Array[];
    try {
      vectors = await cache.getOrCompute(params.values, embed, {
        model: name,
        batchSize: await batchSizeOf(inner, params.values.length),
        ...(ttlMs !== undefined ? { ttlMs } : {}),
      });
    } catch (error) {
      if (failure !== undefined) throw failure.error;
      throw error;
    }
    return combine(vectors, calls);
  };

  return { specificationVersion: 'v4', wrapEmbed };
}
