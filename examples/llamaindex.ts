/**
 * LlamaIndex.TS: wrap any BaseEmbedding with CachedEmbedding; used as the embedding step of an
 * ingestion pipeline (a transformation on nodes), it never embeds a node (or a query) twice.
 *
 *   npx tsx examples/llamaindex.ts
 *
 * (In your project: import { CachedEmbedding } from 'embedcache/llamaindex', with
 * @llamaindex/core installed, and put it in `new IngestionPipeline({ transformations: [splitter,
 * embedModel] })` or `Settings.embedModel`. Here it is called on the nodes directly, which is
 * what the pipeline does.)
 */
import { BaseEmbedding } from '@llamaindex/core/embeddings';
import type { MessageContentDetail } from '@llamaindex/core/llms';
import { TextNode } from '@llamaindex/core/schema';
import { CachedEmbedding } from '../src/adapters/llamaindex.js';
import { EmbeddingCache } from '../src/index.js';

/** Stand-in for OpenAIEmbedding & co: letters counted into 26 dimensions. */
class LetterEmbedding extends BaseEmbedding {
  readonly model = 'letters-26';
  calls = 0;
  constructor() {
    super();
  }
  override getTextEmbeddings = async (texts: string[]): Promise<number[][]> => {
    this.calls += texts.length;
    return texts.map((t) => this.vector(t));
  };
  async getTextEmbedding(text: string): Promise<number[]> {
    return (await this.getTextEmbeddings([text]))[0]!;
  }
  override async getQueryEmbedding(query: MessageContentDetail): Promise<number[] | null> {
    return query.type === 'text' ? this.getTextEmbedding(query.text) : null;
  }
  private vector(t: string): number[] {
    const v = new Array<number>(26).fill(0);
    for (const c of t.toLowerCase()) if (c >= 'a' && c <= 'z') v[c.charCodeAt(0) - 97]! += 1;
    return v;
  }
}

const cache = await EmbeddingCache.open({ maxBytes: 64 * 1024 ** 2 });
const inner = new LetterEmbedding();
const embedModel = new CachedEmbedding({ cache, embedding: inner }); // keyed 'LetterEmbedding:letters-26'

const nodes = () =>
  ['zebras and zoos', 'apples and bananas', 'zebras and zoos'].map((text) => new TextNode({ text }));
const first = await embedModel(nodes()); // what an IngestionPipeline does with its last transformation
await embedModel(nodes()); // all hits
const query = (await embedModel.getQueryEmbedding({ type: 'text', text: 'a zoo with zebras' }))!;
const best = first
  .map((n) => ({ text: (n as TextNode).text, score: embedModel.similarity(query, n.embedding!) }))
  .sort((a, b) => b.score - a.score)[0];
console.log(best);
console.log(`${inner.calls} texts embedded for ${first.length * 2} nodes and 1 query`);
await cache.close();
