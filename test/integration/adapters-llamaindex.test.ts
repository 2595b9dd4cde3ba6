/**
 * The LlamaIndex.TS adapter against the real @llamaindex/core: CachedEmbedding over a
 * deterministic BaseEmbedding that records every call. The wrapped model sees each unique
 * document text once (deduplicated, in batches of its embedBatchSize), a second pass costs no
 * call, a mixed batch sends only its misses, queries are cached apart from documents, and the
 * wrapper called as a transformation (what an ingestion pipeline does) embeds every node.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BaseEmbedding, MultiModalEmbedding } from '@llamaindex/core/embeddings';
import type { MessageContentDetail } from '@llamaindex/core/llms';
import { Document, ImageNode, MetadataMode, TextNode, type ImageType } from '@llamaindex/core/schema';
import { describe, expect, it } from 'vitest';
import { CachedEmbedding, QUERY_CHUNK_ID } from '../../src/adapters/llamaindex.js';
import { useCaches } from '../support/caches.js';

const DIMS = 16;

/** A deterministic vector per (role, text): FNV-1a of each character spread over 16 dimensions. */
function vectorOf(text: string, role: 'doc' | 'query' | 'image' = 'doc'): number[] {
  const v = new Array<number>(DIMS).fill(0);
  const s = `${role}:${text}`;
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) {
    h = Math.imul(h ^ s.charCodeAt(i), 16777619);
    v[(h >>> 0) % DIMS]! += ((h >>> 8) & 0xff) / 255;
  }
  return v;
}

function expectVector(actual: number[] | null | undefined, expected: number[]): void {
  expect(actual).toHaveLength(expected.length);
  expected.forEach((x, i) => expect(actual![i]).toBeCloseTo(x, 5));
}

/** An asymmetric model: queries get other vectors than the same text as a document. */
class CountingEmbedding extends BaseEmbedding {
  /** Texts of each getTextEmbeddings call (the batch path). */
  readonly batches: string[][] = [];
  /** Texts of each direct getTextEmbedding call. */
  readonly singles: string[] = [];
  readonly queries: string[] = [];
  constructor(readonly model?: string) {
    super();
  }
  override getTextEmbeddings = async (texts: string[]): Promise<number[][]> => {
    this.batches.push([...texts]);
    return texts.map((t) => vectorOf(t));
  };
  async getTextEmbedding(text: string): Promise<number[]> {
    this.singles.push(text);
    return vectorOf(text);
  }
  override async getQueryEmbedding(query: MessageContentDetail): Promise<number[] | null> {
    if (query.type !== 'text') return null;
    this.queries.push(query.text);
    return vectorOf(query.text, 'query');
  }
  /** Every call of any kind so far. */
  calls(): number {
    return this.batches.length + this.singles.length + this.queries.length;
  }
}

const text = (t: string): MessageContentDetail => ({ type: 'text', text: t });

describe('LlamaIndex.TS: CachedEmbedding', () => {
  const open = useCaches();

  it('is a BaseEmbedding; documents embed once per unique text, in the model’s batches; a second pass is free', async () => {
    const cache = await open();
    const inner = new CountingEmbedding();
    inner.embedBatchSize = 3;
    const cached = new CachedEmbedding({ cache, embedding: inner, model: 'counting-16' });
    expect(cached).toBeInstanceOf(BaseEmbedding);
    expect(typeof cached).toBe('function'); // a TransformComponent
    expect(typeof cached.id).toBe('string');
    expect(cached.embedBatchSize).toBe(3);

    const texts = ['a', 'b', 'a', 'c', 'd', 'e', 'b', 'f', 'g'];
    const progress: [number, number][] = [];
    const first = await cached.getTextEmbeddingsBatch(texts, {
      progressCallback: (current, total) => progress.push([current, total]),
    });
    expect(inner.batches).toEqual([['a', 'b', 'c'], ['d', 'e', 'f'], ['g']]);
    expect(progress.at(-1)).toEqual([texts.length, texts.length]);
    expect(first).toHaveLength(texts.length);
    first.forEach((v, i) => {
      expect(Array.isArray(v)).toBe(true);
      expectVector(v, vectorOf(texts[i]!));
    });

    // Second pass, through every document entry point: no call at all.
    const before = inner.calls();
    const second = await cached.getTextEmbeddingsBatch(texts);
    expect(second).toEqual(first);
    expect(await cached.getTextEmbeddings(['g', 'a'])).toEqual([first[8], first[0]]);
    expect(await cached.getTextEmbedding('c')).toEqual(first[3]);
    expect(inner.calls()).toBe(before);

    // The wrapper's batch size is the wrapped model's, both ways.
    cached.embedBatchSize = 5;
    expect(inner.embedBatchSize).toBe(5);
  });

  it('a mixed batch sends only its misses to the model', async () => {
    const cache = await open();
    const inner = new CountingEmbedding();
    const cached = new CachedEmbedding({ cache, embedding: inner, model: 'counting-16' });
    await cached.getTextEmbeddings(['old one', 'old two']);
    await cached.getTextEmbedding('old three'); // a single text is a document entry too
    expect(inner.batches).toEqual([['old one', 'old two']]);
    expect(inner.singles).toEqual(['old three']);

    const mixed = ['old two', 'new one', 'old three', 'new two', 'new one', 'old one'];
    const vectors = await cached.getTextEmbeddingsBatch(mixed);
    expect(inner.batches).toEqual([
      ['old one', 'old two'],
      ['new one', 'new two'],
    ]);
    expect(inner.singles).toEqual(['old three']);
    vectors.forEach((v, i) => expectVector(v, vectorOf(mixed[i]!)));
  });

  it('queries are cached apart from documents; cacheQueries: false calls the model every time', async () => {
    const cache = await open();
    const inner = new CountingEmbedding();
    const cached = new CachedEmbedding({ cache, embedding: inner, model: 'counting-16' });
    const shared = 'what is an embedding cache?';

    const doc = await cached.getTextEmbedding(shared);
    const query = await cached.getQueryEmbedding(text(shared)); // not served by the document entry
    expect(inner.singles).toEqual([shared]);
    expect(inner.queries).toEqual([shared]);
    expectVector(doc, vectorOf(shared));
    expectVector(query, vectorOf(shared, 'query'));
    expect(query).not.toEqual(doc);

    const before = inner.calls();
    expect(await cached.getQueryEmbedding(text(shared))).toEqual(query);
    expect(await cached.getTextEmbedding(shared)).toEqual(doc);
    expect(await cached.getTextEmbeddings([shared])).toEqual([doc]);
    expect(inner.calls()).toBe(before);
    expect(cache.get(shared, { model: 'counting-16', chunkId: QUERY_CHUNK_ID })).toBeDefined();

    // Not text: straight to the wrapped model, which has no answer for an image.
    expect(await cached.getQueryEmbedding({ type: 'image_url', image_url: { url: 'https://x/y.png' } })).toBe(
      null,
    );

    const uncached = new CachedEmbedding({
      cache,
      embedding: inner,
      model: 'counting-16',
      cacheQueries: false,
    });
    await uncached.getQueryEmbedding(text(shared));
    await uncached.getQueryEmbedding(text(shared));
    expect(inner.queries).toEqual([shared, shared, shared]);
  });

  it('as a transformation on nodes: every node gets its embedding; a second run makes no call', async () => {
    const cache = await open();
    const inner = new CountingEmbedding();
    const cached = new CachedEmbedding({ cache, embedding: inner, model: 'counting-16' });
    const makeNodes = () => [
      new TextNode({ text: 'The cat sat on the windowsill.', metadata: { source: 'a.txt' } }),
      new TextNode({ text: 'Revenue grew twelve percent.' }),
      new TextNode({ text: 'The cat sat on the windowsill.', metadata: { source: 'a.txt' } }),
      new Document({ text: 'A whole document, unsplit.' }),
      new TextNode({ text: 'Revenue grew twelve percent.', metadata: { source: 'b.txt' } }),
    ];

    const nodes = makeNodes();
    const keys = nodes.map((n) => n.getContent(MetadataMode.EMBED));
    expect(new Set(keys).size).toBe(4); // metadata is part of the embedded text
    const out = await cached(nodes);
    expect(out).toBe(nodes);
    for (const [i, node] of nodes.entries()) expectVector(node.embedding, vectorOf(keys[i]!));
    expect(inner.batches.flat().sort()).toEqual([...new Set(keys)].sort());
    expect(inner.batches).toHaveLength(1);

    // Twice over the same nodes, and once over fresh copies: zero calls, same vectors.
    const before = inner.calls();
    await cached(nodes, { logProgress: false });
    const again = await cached(makeNodes());
    expect(inner.calls()).toBe(before);
    expect(again.map((n) => n.embedding)).toEqual(nodes.map((n) => n.embedding));
  });

  it('with a multimodal model, image nodes go to it uncached and text nodes through the cache', async () => {
    const cache = await open();
    const images: string[] = [];
    class Clip extends MultiModalEmbedding {
      readonly model = 'clip-16';
      constructor() {
        super();
      }
      readonly batches: string[][] = [];
      override getTextEmbeddings = async (texts: string[]) => {
        this.batches.push([...texts]);
        return texts.map((t) => vectorOf(t));
      };
      async getTextEmbedding(t: string) {
        return vectorOf(t);
      }
      async getImageEmbedding(image: ImageType) {
        images.push(String(image));
        return vectorOf(String(image), 'image');
      }
    }
    const inner = new Clip();
    const cached = new CachedEmbedding({ cache, embedding: inner });
    expect(cached.model).toBe('Clip:clip-16');
    const makeNodes = () => [
      new TextNode({ text: 'a caption' }),
      new ImageNode({ image: 'cat.png', text: 'a caption' }),
    ];
    const nodes = await cached(makeNodes());
    expectVector(nodes[0]!.embedding, vectorOf('a caption'));
    expectVector(nodes[1]!.embedding, vectorOf('cat.png', 'image'));
    await cached(makeNodes());
    expect(inner.batches).toEqual([['a caption']]);
    expect(images).toEqual(['cat.png', 'cat.png']);
  });

  it('derives the model name from the wrapped embedding, or asks for one; rejects bad options', async () => {
    const cache = await open();
    expect(new CachedEmbedding({ cache, embedding: new CountingEmbedding('bow-v2') }).model).toBe(
      'CountingEmbedding:bow-v2',
    );
    expect(new CachedEmbedding({ cache, embedding: new CountingEmbedding(), model: 'x' }).model).toBe('x');
    expect(() => new CachedEmbedding({ cache, embedding: new CountingEmbedding() })).toThrow(
      /options\.model/,
    );
    expect(() => new CachedEmbedding({ cache, embedding: {} as never, model: 'x' })).toThrow(TypeError);
    expect(
      () => new CachedEmbedding({ cache: {} as never, embedding: new CountingEmbedding(), model: 'x' }),
    ).toThrow(/options\.cache/);
    expect(
      () =>
        new CachedEmbedding({
          cache,
          embedding: new CountingEmbedding(),
          model: 'x',
          cacheQueries: 1 as never,
        }),
    ).toThrow(/cacheQueries/);
  });

  it('only the adapter imports @llamaindex/core (an optional peer)', () => {
    const root = join(import.meta.dirname, '../../src');
    const importers = (readdirSync(root, { recursive: true }) as string[])
      .filter((f) => f.endsWith('.ts'))
      .filter((f) => /from\s+['"]@llamaindex\//.test(readFileSync(join(root, f), 'utf8')))
      .map((f) => f.split('\\').join('/'));
    expect(importers).toEqual(['adapters/llamaindex.ts']);
  });
});
