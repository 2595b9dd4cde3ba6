/**
 * LangChain.js: wrap any Embeddings with CachedEmbeddings; a vector store built on it never
 * embeds a document (or a query) twice.
 *
 *   npx tsx examples/langchain.ts
 *
 * (In your project: import { CachedEmbeddings } from 'embedcache/langchain', with @langchain/core
 * installed. FakeVectorStore is core's in-memory store for demos; MemoryVectorStore from the
 * `langchain` package works the same way.)
 */
import { Document } from '@langchain/core/documents';
import { Embeddings } from '@langchain/core/embeddings';
import { FakeVectorStore } from '@langchain/core/utils/testing';
import { CachedEmbeddings } from '../src/adapters/langchain.js';
import { EmbeddingCache } from '../src/index.js';

/** Stand-in for OpenAIEmbeddings & co: letters counted into 26 dimensions. */
class LetterEmbeddings extends Embeddings {
  calls = 0;
  constructor() {
    super({});
  }
  async embedDocuments(texts: string[]): Promise<number[][]> {
    this.calls += texts.length;
    return texts.map((t) => this.vector(t));
  }
  async embedQuery(text: string): Promise<number[]> {
    this.calls++;
    return this.vector(text);
  }
  private vector(t: string): number[] {
    const v = new Array<number>(26).fill(0);
    for (const c of t.toLowerCase()) if (c >= 'a' && c <= 'z') v[c.charCodeAt(0) - 97]! += 1;
    return v;
  }
}

const cache = await EmbeddingCache.open({ maxBytes: 64 * 1024 ** 2 });
const inner = new LetterEmbeddings();
const embeddings = new CachedEmbeddings({ cache, embeddings: inner, model: 'letters-26' });

const docs = ['zebras and zoos', 'apples and bananas', 'zebras and zoos'].map(
  (pageContent) => new Document({ pageContent }),
);
const store = new FakeVectorStore(embeddings);
await store.addDocuments(docs);
await new FakeVectorStore(embeddings).addDocuments(docs); // all hits
console.log(await store.similaritySearch('a zoo with zebras', 1));
console.log(`${inner.calls} texts embedded for ${docs.length * 2} documents and 1 query`);
await cache.close();
