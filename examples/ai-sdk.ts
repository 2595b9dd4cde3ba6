/**
 * Vercel AI SDK: wrap any embedding model with embedcacheMiddleware; embed() and embedMany()
 * then send only the texts the cache has not seen to the model.
 *
 *   npx tsx examples/ai-sdk.ts
 *
 * (In your project: import { embedcacheMiddleware } from 'embedcache/ai', with `ai` installed,
 * and a real model such as openai.embedding('text-embedding-3-small'). The mock model from
 * 'ai/test' stands in for it here: no network, no key.)
 */
import { embed, embedMany, wrapEmbeddingModel } from 'ai';
import { MockEmbeddingModelV4 } from 'ai/test';
import { embedcacheMiddleware } from '../src/adapters/ai-sdk.js';
import { EmbeddingCache } from '../src/index.js';

/** Stand-in for a provider's model: letters counted into 26 dimensions, one token per word. */
const provider = new MockEmbeddingModelV4({
  provider: 'letters',
  modelId: 'letters-26',
  maxEmbeddingsPerCall: 96,
  doEmbed: async ({ values }) => ({
    embeddings: values.map((t) => {
      const v = new Array<number>(26).fill(0);
      for (const c of t.toLowerCase()) if (c >= 'a' && c <= 'z') v[c.charCodeAt(0) - 97]! += 1;
      return v;
    }),
    usage: { tokens: values.reduce((n, t) => n + t.split(/\s+/).length, 0) },
    warnings: [],
  }),
});

const cache = await EmbeddingCache.open({ maxBytes: 64 * 1024 ** 2 });
const model = wrapEmbeddingModel({ model: provider, middleware: embedcacheMiddleware({ cache }) });

const docs = ['zebras and zoos', 'apples and bananas', 'zebras and zoos'];
const first = await embedMany({ model, values: docs });
const again = await embedMany({ model, values: [...docs, 'cherries'] });
const query = await embed({ model, value: 'apples and bananas' });

console.log(`first embedMany: ${first.usage.tokens} tokens`); // 6: two unique texts
console.log(`second embedMany: ${again.usage.tokens} tokens`); // 1: only 'cherries'
console.log(`embed(): ${query.usage.tokens} tokens`); // 0: a hit
console.log(
  `${provider.doEmbedCalls.length} model calls:`,
  provider.doEmbedCalls.map((c) => c.values),
);
console.log(cache.stats().compute); // texts asked for, embedded, saved
await cache.close();
