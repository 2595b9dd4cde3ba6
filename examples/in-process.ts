/**
 * The cache in one thread: getOrCompute embeds only what it has not seen.
 *
 *   npx tsx examples/in-process.ts
 *
 * (In your project the import is 'embedcache'.)
 */
import { EmbeddingCache } from '../src/index.js';

const cache = await EmbeddingCache.open({ maxBytes: 64 * 1024 ** 2 });

let modelCalls = 0;
/** Your model goes here: one vector per text, in order. */
async function embed(texts: string[]): Promise<Float32Array[]> {
  modelCalls += texts.length;
  return texts.map((t) => Float32Array.from({ length: 8 }, (_, i) => t.charCodeAt(i % t.length) / 255));
}

const chunks = ['alpha', 'beta', 'alpha', 'gamma'];
const first = await cache.getOrCompute(chunks, embed, { model: 'toy-8' });
const again = await cache.getOrCompute(chunks, embed, { model: 'toy-8' });

console.log(first.length, again.length, 'vectors;', modelCalls, 'texts embedded'); // 4 4 vectors; 3 texts embedded
console.log(cache.get('beta', { model: 'toy-8' }));
await cache.close();
