/**
 * The AI SDK adapter against the real `ai` package: embedcacheMiddleware inside
 * wrapEmbeddingModel, driven by embed() and embedMany() over ai/test's MockEmbeddingModelV4,
 * whose doEmbedCalls record exactly what reached the model. Hits never reach it; misses reach it
 * once each, in input order; errors come out as the SDK gives them without the middleware.
 */
import { APICallError, embed, embedMany, InvalidResponseDataError, wrapEmbeddingModel } from 'ai';
import { MockEmbeddingModelV4 } from 'ai/test';
import { describe, expect, it, vi } from 'vitest';
import { defaultCacheKey, embedcacheMiddleware, type ProviderOptions } from '../../src/adapters/ai-sdk.js';
import type { EmbeddingCache } from '../../src/index.js';
import { useCaches } from '../support/caches.js';

/** A vector per text that float32 holds exactly: length, first char code, dimension count. */
function vectorOf(text: string, dimensions = 3): number[] {
  return Array.from({ length: dimensions }, (_, i) =>
    i === 0 ? text.length : i === 1 ? text.charCodeAt(0) || 0 : dimensions + i / 4,
  );
}

/** One token per character. */
const tokensOf = (values: readonly string[]): number => values.reduce((n, v) => n + v.length, 0);

type MockOptions = ConstructorParameters<typeof MockEmbeddingModelV4>[0] & {};

function mockModel(options: Omit<MockOptions, 'doEmbed'> & { delayMs?: number } = {}) {
  const { delayMs, ...rest } = options;
  return new MockEmbeddingModelV4({
    provider: 'mock-provider',
    modelId: 'mock-embed',
    maxEmbeddingsPerCall: null, // no limit (the mock's default is 1)
    ...rest,
    doEmbed: async ({ values, dimensions }) => {
      if (delayMs !== undefined) await new Promise((r) => setTimeout(r, delayMs));
      return {
        embeddings: values.map((v) => vectorOf(v, dimensions)),
        usage: { tokens: tokensOf(values) },
        warnings: [],
      };
    },
  });
}

function failingModel(error: () => unknown) {
  return new MockEmbeddingModelV4({
    provider: 'mock-provider',
    modelId: 'mock-embed',
    maxEmbeddingsPerCall: null,
    doEmbed: async () => {
      throw error();
    },
  });
}

function cached(model: MockEmbeddingModelV4, cache: EmbeddingCache, extra: { model?: string } = {}) {
  return wrapEmbeddingModel({ model, middleware: embedcacheMiddleware({ cache, ...extra }) });
}

const valuesSent = (model: MockEmbeddingModelV4): string[][] => model.doEmbedCalls.map((c) => c.values);

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a rejection');
}

const KEY = 'mock-provider:mock-embed';

describe('AI SDK: embedcacheMiddleware with embed() and embedMany()', () => {
  const open = useCaches();

  it('a second identical embedMany makes no model call and reports zero tokens', async () => {
    const cache = await open();
    const inner = mockModel();
    const model = cached(inner, cache);
    const values = ['sunny day', 'rainy night', 'foggy morning'];

    const first = await embedMany({ model, values });
    expect(first.embeddings).toEqual(values.map((v) => vectorOf(v)));
    expect(first.usage).toEqual({ tokens: tokensOf(values) });
    expect(valuesSent(inner)).toEqual([values]);

    const second = await embedMany({ model, values });
    expect(second.embeddings).toEqual(first.embeddings);
    expect(second.usage).toEqual({ tokens: 0 });
    expect(inner.doEmbedCalls).toHaveLength(1);
    expect(cache.stats().entries).toBe(3);
  });

  it('a mixed batch sends only the unique misses, in input order, and counts only their tokens', async () => {
    const cache = await open();
    const inner = mockModel();
    const model = cached(inner, cache);
    await embedMany({ model, values: ['b', 'd'] });

    const values = ['a', 'b', 'cc', 'd', 'eee', 'cc', 'a', 'b'];
    const { embeddings, usage } = await embedMany({ model, values });
    expect(valuesSent(inner)).toEqual([
      ['b', 'd'],
      ['a', 'cc', 'eee'],
    ]);
    expect(embeddings).toEqual(values.map((v) => vectorOf(v)));
    expect(usage).toEqual({ tokens: tokensOf(['a', 'cc', 'eee']) });
  });

  it('duplicates within one call are embedded once', async () => {
    const cache = await open();
    const inner = mockModel();
    const values = ['same', 'same', 'other', 'same', 'other'];
    const { embeddings, usage } = await embedMany({ model: cached(inner, cache), values });
    expect(valuesSent(inner)).toEqual([['same', 'other']]);
    expect(embeddings).toEqual(values.map((v) => vectorOf(v)));
    expect(usage.tokens).toBe(tokensOf(['same', 'other']));
  });

  it('embed() caches a single value, shared with embedMany', async () => {
    const cache = await open();
    const inner = mockModel();
    const model = cached(inner, cache);
    const one = await embed({ model, value: 'hello' });
    expect(one.embedding).toEqual(vectorOf('hello'));
    expect(one.usage).toEqual({ tokens: 5 });
    const again = await embed({ model, value: 'hello' });
    expect(again.embedding).toEqual(one.embedding);
    expect(again.usage).toEqual({ tokens: 0 });
    await embedMany({ model, values: ['hello', 'world'] });
    expect(valuesSent(inner)).toEqual([['hello'], ['world']]);
    expect(cache.get('hello', { model: KEY })).toEqual(Float32Array.from(vectorOf('hello')));
  });

  it('another dimensions or other provider options give other entries; key order does not', async () => {
    const cache = await open();
    const inner = mockModel();
    const model = cached(inner, cache);
    const d2 = await embed({ model, value: 'x', dimensions: 2 });
    const d4 = await embed({ model, value: 'x', dimensions: 4 });
    expect(d2.embedding).toHaveLength(2);
    expect(d4.embedding).toHaveLength(4);
    await embed({ model, value: 'x', dimensions: 2 }); // hit
    expect(inner.doEmbedCalls.map((c) => c.dimensions)).toEqual([2, 4]);

    const a: ProviderOptions = { mock: { taskType: 'query', nested: { p: 1, q: [1, 2] } } };
    const aReordered: ProviderOptions = { mock: { nested: { q: [1, 2], p: 1 }, taskType: 'query' } };
    const b: ProviderOptions = { mock: { taskType: 'document', nested: { p: 1, q: [1, 2] } } };
    await embed({ model, value: 'x', providerOptions: a });
    await embed({ model, value: 'x', providerOptions: aReordered }); // hit
    await embed({ model, value: 'x', providerOptions: b });
    await embed({ model, value: 'x', providerOptions: {} }); // no options at all: a miss
    await embed({ model, value: 'x', providerOptions: { mock: {} } }); // the same entry as {}
    await embed({ model, value: 'x' }); // the same entry again
    expect(inner.doEmbedCalls.slice(2).map((c) => c.providerOptions)).toEqual([a, b, {}]);

    // The keys, as documented.
    const call = { name: KEY, provider: 'mock-provider', modelId: 'mock-embed' };
    expect(defaultCacheKey({ ...call, dimensions: undefined, providerOptions: undefined })).toBe(KEY);
    expect(defaultCacheKey({ ...call, dimensions: 2, providerOptions: { mock: {} } })).toBe(
      `${KEY};dimensions=2`,
    );
    const ka = defaultCacheKey({ ...call, dimensions: 4, providerOptions: a });
    expect(ka).toMatch(/^mock-provider:mock-embed;dimensions=4;options=[0-9a-f]{16}$/);
    expect(defaultCacheKey({ ...call, dimensions: 4, providerOptions: aReordered })).toBe(ka);
    expect(defaultCacheKey({ ...call, dimensions: 4, providerOptions: b })).not.toBe(ka);
    expect(cache.has('x', { model: `${KEY};dimensions=2` })).toBe(true);
    expect(cache.has('x', { model: `${KEY};dimensions=3` })).toBe(false);
  });

  it('a model error comes out as the SDK throws it without the middleware; nothing is stored; a retry works', async () => {
    const cache = await open();
    const make = () => new Error('provider exploded');
    const bare = await rejection(embedMany({ model: failingModel(make), values: ['a', 'b'] }));
    const thrown: unknown[] = [];
    const failing = failingModel(() => {
      const e = make();
      thrown.push(e);
      return e;
    });
    const viaCache = await rejection(embedMany({ model: cached(failing, cache), values: ['a', 'b'] }));
    expect(viaCache.constructor).toBe(bare.constructor);
    expect(viaCache.name).toBe(bare.name);
    expect(viaCache.message).toBe(bare.message);
    expect(viaCache).toBe(thrown[0]); // the model's own error object
    const single = await rejection(embed({ model: cached(failing, cache), value: 'a' }));
    expect(single).toBe(thrown[1]);
    expect(cache.stats().entries).toBe(0);

    // A non-retryable APICallError too (the SDK's own class, not an EmbeddingCacheError).
    const apiError = () =>
      new APICallError({ message: 'bad request', url: 'https://x', requestBodyValues: {}, statusCode: 400 });
    const bareApi = await rejection(embedMany({ model: failingModel(apiError), values: ['a'] }));
    const cachedApi = await rejection(
      embedMany({ model: cached(failingModel(apiError), cache), values: ['a'] }),
    );
    expect(APICallError.isInstance(bareApi)).toBe(true);
    expect(APICallError.isInstance(cachedApi)).toBe(true);
    expect(cachedApi.message).toBe(bareApi.message);

    // The same values later, with a model that works: embedded, not stuck.
    const inner = mockModel();
    const { embeddings } = await embedMany({ model: cached(inner, cache), values: ['a', 'b'] });
    expect(valuesSent(inner)).toEqual([['a', 'b']]);
    expect(embeddings).toEqual([vectorOf('a'), vectorOf('b')]);
  });

  it('a retryable error is retried by the SDK through the middleware', async () => {
    const cache = await open();
    let calls = 0;
    const inner = new MockEmbeddingModelV4({
      provider: 'mock-provider',
      modelId: 'mock-embed',
      maxEmbeddingsPerCall: null,
      doEmbed: async ({ values }) => {
        if (calls++ === 0) {
          throw new APICallError({
            message: 'rate limited',
            url: 'https://x',
            requestBodyValues: {},
            statusCode: 429,
            responseHeaders: { 'retry-after-ms': '1' },
            isRetryable: true,
          });
        }
        return {
          embeddings: values.map((v) => vectorOf(v)),
          usage: { tokens: tokensOf(values) },
          warnings: [],
        };
      },
    });
    const { embeddings, usage } = await embedMany({ model: cached(inner, cache), values: ['p', 'q'] });
    expect(embeddings).toEqual([vectorOf('p'), vectorOf('q')]);
    expect(usage).toEqual({ tokens: 2 });
    expect(valuesSent(inner)).toEqual([
      ['p', 'q'],
      ['p', 'q'],
    ]);
  });

  it('a wrong number of embeddings throws what the SDK throws, and stores nothing', async () => {
    const cache = await open();
    const short = () =>
      new MockEmbeddingModelV4({
        provider: 'mock-provider',
        modelId: 'mock-embed',
        maxEmbeddingsPerCall: null,
        doEmbed: async () => ({ embeddings: [[1, 2, 3]], warnings: [] }),
      });
    const bare = await rejection(embedMany({ model: short(), values: ['a', 'b'] }));
    const viaCache = await rejection(embedMany({ model: cached(short(), cache), values: ['a', 'b'] }));
    expect(InvalidResponseDataError.isInstance(bare)).toBe(true);
    expect(InvalidResponseDataError.isInstance(viaCache)).toBe(true);
    expect(viaCache.message).toBe(bare.message);
    expect(cache.stats().entries).toBe(0);
  });

  it("respects the model's maxEmbeddingsPerCall, with embedMany's own chunks and directly", async () => {
    const cache = await open();
    const inner = mockModel({ maxEmbeddingsPerCall: 2, supportsParallelCalls: true });
    const model = cached(inner, cache);
    await embedMany({ model, values: ['v1', 'v3'] });
    // The SDK cuts [v1 v2] [v3 v4] [v5]; the middleware sends the misses of each chunk.
    const values = ['v1', 'v2', 'v3', 'v4', 'v5'];
    const { embeddings, usage } = await embedMany({ model, values });
    expect(embeddings).toEqual(values.map((v) => vectorOf(v)));
    expect(valuesSent(inner).slice(1).sort()).toEqual([['v2'], ['v4'], ['v5']]);
    expect(usage).toEqual({ tokens: 6 });

    // Called directly with more values than the limit, the middleware cuts them itself.
    const direct = await model.doEmbed({ values: ['w1', 'v1', 'w2', 'w3', 'w4', 'w5'] });
    expect(direct.embeddings).toHaveLength(6);
    expect(valuesSent(inner).slice(4)).toEqual([['w1', 'w2'], ['w3', 'w4'], ['w5']]);
    expect(direct.usage).toEqual({ tokens: 10 });
  });

  it('concurrent calls embed a shared text once (single-flight through getOrCompute)', async () => {
    const cache = await open();
    const inner = mockModel({ delayMs: 30 });
    const model = cached(inner, cache);
    const [a, b] = await Promise.all([
      embedMany({ model, values: ['shared', 'only-a'] }),
      embedMany({ model, values: ['shared', 'only-b'] }),
    ]);
    expect(a.embeddings).toEqual([vectorOf('shared'), vectorOf('only-a')]);
    expect(b.embeddings).toEqual([vectorOf('shared'), vectorOf('only-b')]);
    expect(valuesSent(inner).flat().sort()).toEqual(['only-a', 'only-b', 'shared']);
    expect(a.usage.tokens + b.usage.tokens).toBe(tokensOf(['shared', 'only-a', 'only-b']));
  });

  it('model replaces provider:modelId in the key; cacheKey replaces the whole key', async () => {
    const cache = await open();
    const one = mockModel({ modelId: 'deployment-1' });
    const two = mockModel({ modelId: 'deployment-2' });
    await embed({ model: cached(one, cache, { model: 'my-embedder' }), value: 'v', dimensions: 3 });
    await embed({ model: cached(two, cache, { model: 'my-embedder' }), value: 'v', dimensions: 3 });
    expect(two.doEmbedCalls).toHaveLength(0);
    expect(cache.has('v', { model: 'my-embedder;dimensions=3' })).toBe(true);

    const seen: unknown[] = [];
    const custom = wrapEmbeddingModel({
      model: two,
      middleware: embedcacheMiddleware({
        cache,
        cacheKey: (call) => {
          seen.push(call);
          return `custom/${call.modelId}`;
        },
      }),
    });
    await embed({ model: custom, value: 'v', dimensions: 3, providerOptions: { mock: { user: 'u1' } } });
    await embed({ model: custom, value: 'v', dimensions: 3, providerOptions: { mock: { user: 'u2' } } });
    expect(two.doEmbedCalls).toHaveLength(1);
    expect(seen[0]).toEqual({
      name: 'mock-provider:deployment-2',
      provider: 'mock-provider',
      modelId: 'deployment-2',
      dimensions: 3,
      providerOptions: { mock: { user: 'u1' } },
    });
    expect(cache.has('v', { model: 'custom/deployment-2' })).toBe(true);
  });

  it('per-value provider options (a providerOptionsTransformer that slices) pass through uncached', async () => {
    const cache = await open();
    const inner = mockModel();
    // As Google's multimodal `content`: one entry per value, sliced per batch by the SDK.
    Object.defineProperty(inner, Symbol.for('vercel.ai.embeddingModel.providerOptionsTransformer'), {
      value: ({
        providerOptions,
        startIndex,
        endIndex,
      }: { providerOptions?: ProviderOptions } & Record<string, number>) => {
        const content = providerOptions?.mock?.content;
        return Array.isArray(content)
          ? {
              ...providerOptions,
              mock: { ...providerOptions!.mock, content: content.slice(startIndex, endIndex) },
            }
          : providerOptions;
      },
    });
    const model = cached(inner, cache);
    const perValue = { mock: { content: ['img-a', 'img-b'] } };
    await embedMany({ model, values: ['a', 'b'], providerOptions: perValue });
    await embedMany({ model, values: ['a', 'b'], providerOptions: perValue });
    expect(valuesSent(inner)).toEqual([
      ['a', 'b'],
      ['a', 'b'],
    ]);
    expect(cache.stats().entries).toBe(0);

    // Options the transformer leaves alone are cached as usual.
    const shared = { mock: { taskType: 'query' } };
    await embedMany({ model, values: ['a', 'b'], providerOptions: shared });
    await embedMany({ model, values: ['a', 'b'], providerOptions: shared });
    expect(inner.doEmbedCalls).toHaveLength(3);
  });

  it('checks its options', async () => {
    const cache = await open();
    expect(() => embedcacheMiddleware(undefined as never)).toThrow(TypeError);
    expect(() => embedcacheMiddleware({ cache: {} as never })).toThrow(/options\.cache/);
    expect(() => embedcacheMiddleware({ cache, model: '' })).toThrow(/options\.model/);
    expect(() => embedcacheMiddleware({ cache, cacheKey: 'k' as never })).toThrow(/options\.cacheKey/);
    const empty = wrapEmbeddingModel({
      model: mockModel(),
      middleware: embedcacheMiddleware({ cache, cacheKey: () => '' }),
    });
    await expect(embed({ model: empty, value: 'v' })).rejects.toThrow(/must return a non-empty string/);
  });

  it("does not load 'ai' when imported", async () => {
    vi.resetModules();
    vi.doMock('ai', () => {
      throw new Error("'ai' was loaded");
    });
    try {
      const mod = await import('../../src/adapters/ai-sdk.js');
      expect(typeof mod.embedcacheMiddleware).toBe('function');
    } finally {
      vi.doUnmock('ai');
      vi.resetModules();
    }
  });
});
