/**
 * The LangChain adapter against the real @langchain/core: CachedEmbeddings over a deterministic
 * Embeddings class, used by core's in-memory vector store. A round trip (addDocuments, then
 * similaritySearch) finds the right document, and the wrapped model sees each unique text once
 * — across two stores, repeated documents and repeated queries.
 */
import { Document } from '@langchain/core/documents';
import { Embeddings } from '@langchain/core/embeddings';
import { FakeVectorStore } from '@langchain/core/utils/testing';
import { describe, expect, it } from 'vitest';
import { CachedEmbeddings } from '../../src/adapters/langchain.js';
import { useCaches } from '../support/caches.js';

const DIMS = 64;

/** Bag of words hashed into 64 buckets, L2-normalized: texts sharing words are close. */
function bagOfWords(text: string): number[] {
  const v = new Array<number>(DIMS).fill(0);
  for (const w of text.toLowerCase().match(/[a-z]+/g) ?? []) {
    let h = 2166136261;
    for (let i = 0; i < w.length; i++) h = Math.imul(h ^ w.charCodeAt(i), 16777619);
    v[(h >>> 0) % DIMS]! += 1;
  }
  const norm = Math.hypot(...v) || 1;
  return v.map((x) => x / norm);
}

class CountingEmbeddings extends Embeddings {
  readonly documentCalls: string[][] = [];
  readonly queryCalls: string[] = [];
  constructor() {
    super({});
  }
  async embedDocuments(documents: string[]): Promise<number[][]> {
    this.documentCalls.push([...documents]);
    return documents.map(bagOfWords);
  }
  async embedQuery(document: string): Promise<number[]> {
    this.queryCalls.push(document);
    return bagOfWords(document);
  }
}

const docs = [
  new Document({ pageContent: 'The cat sat on the warm windowsill all afternoon.', metadata: { id: 'cat' } }),
  new Document({
    pageContent: 'Quarterly revenue grew by twelve percent in Europe.',
    metadata: { id: 'revenue' },
  }),
  new Document({
    pageContent: 'Rust and TypeScript both have strict type systems.',
    metadata: { id: 'types' },
  }),
  new Document({
    pageContent: 'The cat sat on the warm windowsill all afternoon.',
    metadata: { id: 'cat-again' },
  }),
  new Document({
    pageContent: 'Embedding caches keep a model from paying twice.',
    metadata: { id: 'cache' },
  }),
];

describe('LangChain: CachedEmbeddings round trip', () => {
  const open = useCaches();

  it('a vector store finds the right documents; the model embeds each unique text once', async () => {
    const cache = await open();
    const inner = new CountingEmbeddings();
    const embeddings = new CachedEmbeddings({ cache, embeddings: inner, model: 'bag-of-words-64' });
    expect(embeddings).toBeInstanceOf(Embeddings);

    const store = new FakeVectorStore(embeddings);
    await store.addDocuments(docs);
    const [top] = await store.similaritySearch('revenue growth in Europe', 1);
    expect(top?.metadata.id).toBe('revenue');
    const typed = await store.similaritySearch('strict type systems', 1);
    expect(typed[0]?.metadata.id).toBe('types');

    // Four unique document texts, embedded in one call.
    expect(inner.documentCalls.flat().sort()).toEqual([...new Set(docs.map((d) => d.pageContent))].sort());

    // A second store over the same documents, and the same query again: all from the cache.
    const second = new FakeVectorStore(embeddings);
    await second.addDocuments(docs);
    const [again] = await second.similaritySearch('revenue growth in Europe', 1);
    expect(again?.metadata.id).toBe('revenue');
    expect(inner.documentCalls).toHaveLength(1);
    expect(inner.queryCalls).toEqual(['revenue growth in Europe', 'strict type systems']);

    // The vectors are the model's own.
    const [v] = await embeddings.embedDocuments([docs[2]!.pageContent]);
    bagOfWords(docs[2]!.pageContent).forEach((x, i) => expect(v![i]).toBeCloseTo(x, 6));
  });

  it('queries and documents are cached apart; cacheQueries: false calls the model every time', async () => {
    const cache = await open();
    const inner = new CountingEmbeddings();
    const text = 'shared text';
    const cached = new CachedEmbeddings({ cache, embeddings: inner, model: 'bow' });
    await cached.embedDocuments([text]);
    await cached.embedQuery(text); // not served by the document entry
    await cached.embedQuery(text);
    expect(inner.documentCalls).toEqual([[text]]);
    expect(inner.queryCalls).toEqual([text]);

    const uncached = new CachedEmbeddings({ cache, embeddings: inner, model: 'bow', cacheQueries: false });
    await uncached.embedQuery(text);
    await uncached.embedQuery(text);
    expect(inner.queryCalls).toEqual([text, text, text]);
  });

  it('derives the model name from the wrapped embeddings, or asks for one', async () => {
    const cache = await open();
    const named = Object.assign(new CountingEmbeddings(), { model: 'bow-v2' });
    expect(new CachedEmbeddings({ cache, embeddings: named }).model).toBe('CountingEmbeddings:bow-v2');
    expect(() => new CachedEmbeddings({ cache, embeddings: new CountingEmbeddings() })).toThrow(
      /options\.model/,
    );
    expect(() => new CachedEmbeddings({ cache, embeddings: {} as never, model: 'x' })).toThrow(TypeError);
  });
});
