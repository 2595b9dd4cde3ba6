/**
 * Deterministic chunk texts and vectors for the benchmarks.
 *
 * Why not random bytes or "key-123": the cache hashes every text in full, so the cost
 * of a get grows with the text's length, and a peer keyed by text (Map, lru-cache) pays to hash
 * and compare strings too. Short synthetic keys would flatter everyone. RAG chunkers emit prose
 * of roughly 200 B to 2 KB, with a header line, digits, punctuation and the odd non-ASCII word,
 * so that is what these look like. Everything is a pure function of (seed, index): two runs,
 * two processes, or a main thread and a worker that call `chunkText(i)` get the same text.
 *
 * Two generators:
 * - `chunkText(i)` builds a text word by word (about 2-5 µs each): for key pools up to ~100k.
 * - `TextSource` joins a unique header onto one of a few thousand pre-built bodies (well under
 *   1 µs): for the 1M-entry runs, where building every text from words would take longer than
 *   the inserts being measured. Both give flat (not rope) strings of 200 B to 2 KB.
 */

const WORDS = (
  'the of and to in is that for it as with was on be by this are or from at which an have not ' +
  'embedding vector model retrieval chunk document index query cache token context latency ' +
  'throughput memory shared worker thread pipeline dataset corpus passage section paragraph ' +
  'semantic search similarity cosine nearest neighbour cluster centroid dimension float batch ' +
  'request response server client storage disk page buffer lock atomic eviction policy hit miss ' +
  'report table figure result method analysis system design protocol version release schedule ' +
  'customer invoice contract clause payment delivery warranty support ticket incident network ' +
  'temperature pressure sample measurement protein sequence gene cell patient trial dose effect ' +
  'river mountain village harbour market festival library museum garden railway bridge tower ' +
  'naïve café Zürich façade déjà coöperate São Paulo Kraków Ελλάδα 東京 データ résumé — … ±'
).split(' ');

const HEADINGS = [
  'Introduction',
  'Methods',
  'Results',
  'Discussion',
  'Appendix',
  'Terms',
  'Notes',
  'Summary',
  'FAQ',
  'Changelog',
];

/** splitmix32-style integer mixer: a stateless hash of (seed, i) to 32 bits. */
export function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** A small fast PRNG (mulberry32) for sequences drawn from one seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ChunkOptions {
  /** Smallest text in UTF-8 bytes (approximately; the text ends at a word). Default 200. */
  minBytes?: number;
  /** Largest text in UTF-8 bytes (approximately). Default 2048. */
  maxBytes?: number;
  /** Namespace for the texts: other seeds give other texts for the same index. Default 1. */
  seed?: number;
}

/**
 * The i-th chunk text: a header naming a document and section, then sentences of words. Its
 * UTF-8 length is drawn between minBytes and maxBytes (uniform, so the mean is the midpoint).
 */
export function chunkText(i: number, opts: ChunkOptions = {}): string {
  const minBytes = opts.minBytes ?? 200;
  const maxBytes = opts.maxBytes ?? 2048;
  const rand = prng(mix32(i ^ Math.imul(opts.seed ?? 1, 0x27d4eb2d)));
  const target = minBytes + Math.floor(rand() * (maxBytes - minBytes + 1));
  const heading = HEADINGS[Math.floor(rand() * HEADINGS.length)] ?? 'Notes';
  const parts: string[] = [
    `doc-${((i * 2654435761) >>> 0).toString(36)} § ${heading} ${1 + (i % 97)}.${i % 13}:`,
  ];
  // Bytes so far; words with non-ASCII letters count a little short, which only makes the
  // length approximate (the spread, not the exact bound, is what matters).
  let bytes = parts[0]!.length + 1;
  let sentence = 0;
  while (bytes < target) {
    let w = WORDS[Math.floor(rand() * WORDS.length)] ?? 'the';
    if (sentence === 0) w = w.charAt(0).toUpperCase() + w.slice(1);
    if (rand() < 0.04) w = `${w} ${Math.floor(rand() * 10_000)}`;
    sentence++;
    if (sentence > 8 && rand() < 0.15) {
      w += rand() < 0.8 ? '.' : ';';
      sentence = 0;
    } else if (rand() < 0.06) {
      w += ',';
    }
    parts.push(w);
    bytes += w.length + 1;
  }
  return parts.join(' ');
}

/** Texts [start, start + count) of chunkText. */
export function chunkTexts(start: number, count: number, opts: ChunkOptions = {}): string[] {
  const out = new Array<string>(count);
  for (let k = 0; k < count; k++) out[k] = chunkText(start + k, opts);
  return out;
}

/**
 * A text of about `bytes` UTF-8 bytes (±10 %), for workloads that fix the text size (the peer
 * comparison uses ~1 KB texts throughout).
 */
export function textOfSize(i: number, bytes: number, seed = 1): string {
  return chunkText(i, { minBytes: Math.floor(bytes * 0.9), maxBytes: Math.ceil(bytes * 1.1), seed });
}

/**
 * Cheap unique texts for runs of up to millions of entries: `text(i)` is a unique header joined
 * onto body (mix(i) mod pool) of a pool of chunkText bodies. Unique for every i < 2^32.
 */
export class TextSource {
  private readonly bodies: string[];

  constructor(poolSize = 4096, opts: ChunkOptions = {}) {
    this.bodies = chunkTexts(0, poolSize, opts);
  }

  text(i: number): string {
    const body = this.bodies[mix32(i) % this.bodies.length] ?? '';
    // join() returns a flat string: hashing it costs no extra flattening inside a timed loop.
    return [`#${i.toString(36)}`, body].join(' ');
  }

  texts(start: number, count: number): string[] {
    const out = new Array<string>(count);
    for (let k = 0; k < count; k++) out[k] = this.text(start + k);
    return out;
  }

  /** Mean UTF-8 length of the bodies (the header adds a few bytes). */
  meanBytes(): number {
    let sum = 0;
    for (const b of this.bodies) sum += Buffer.byteLength(b);
    return sum / this.bodies.length;
  }
}

/** Mean UTF-8 byte length of some texts. */
export function meanBytes(texts: readonly string[]): number {
  let sum = 0;
  for (const t of texts) sum += Buffer.byteLength(t);
  return texts.length === 0 ? 0 : sum / texts.length;
}

/**
 * The i-th vector: deterministic values in [-1, 1), with element 0 = i so that a wrong vector
 * returned for a key is caught (no two indexes share a vector).
 */
export function vectorFor(i: number, dims: number, out = new Float32Array(dims)): Float32Array {
  const rand = prng(mix32(i * 31 + dims));
  for (let d = 0; d < dims; d++) out[d] = rand() * 2 - 1;
  out[0] = i;
  return out;
}

/**
 * Fast vectors for long insert loops: a pool of vectorFor() results, copied into a scratch
 * array with one set() call and element 0 set to i. `at(i)` returns the same scratch array
 * every time (the cache copies it on set), so an insert loop allocates nothing.
 */
export class VectorSource {
  private readonly pool: Float32Array[];
  private readonly scratch: Float32Array;

  constructor(
    readonly dims: number,
    poolSize = 64,
  ) {
    this.pool = [];
    for (let k = 0; k < poolSize; k++) this.pool.push(vectorFor(k, dims));
    this.scratch = new Float32Array(dims);
  }

  at(i: number): Float32Array {
    this.scratch.set(this.pool[i % this.pool.length]!);
    this.scratch[0] = i;
    return this.scratch;
  }

  /** A fresh (not shared) copy of vector i: what `at(i)` would hold. */
  copyOf(i: number): Float32Array {
    return this.at(i).slice();
  }
}
