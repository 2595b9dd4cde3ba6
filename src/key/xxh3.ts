/**
 * The key hash: XXH3-128 with a 64-bit seed over `prefix ‖ text as UTF-16LE`, by our own wasm
 * module (xxh3.wat, built into xxh3.wasm beside this file by `npm run build`).
 *
 * Why the bytes go into the module's memory this way: the text is written straight in with
 * Buffer's ucs2Write (a memcpy for two-byte strings, a widening loop for one-byte ones), always
 * at TEXT_AT, and the framed (model, chunkId) prefix sits right before it, so one call hashes
 * prefix and text as one input with no copy of the text and no per-prefix seed to derive. The
 * prefix is written only when it differs from the last one written (batches repeat one prefix);
 * the text never reaches below TEXT_AT, so it cannot overwrite it. The result comes back as four
 * int32 words read from the module's memory: no BigInt, no string.
 *
 * There is no fallback: loadXXH3() throws if xxh3.wasm is missing (see its comment).
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

/** Where the module keeps its result: low u64 then high u64, little-endian (xxh3.wat). */
const RESULT_AT = 448;
/** The first byte the module leaves to its caller. */
const FREE_AT = 512;
/**
 * Where the text starts. A prefix of up to TEXT_AT − FREE_AT bytes fits before it; a longer one
 * (a model name or chunk id of hundreds of characters) moves the text up instead.
 */
const TEXT_AT = 1024;
const PAGE = 64 * 1024;

/** The parts of the WebAssembly API used here (this project's TypeScript lib has no DOM types). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
declare const WebAssembly: {
  instantiate(code: Uint8Array): Promise<{ instance: { exports: unknown } }>;
};

interface Exports {
  memory: WasmMemory;
  xxh3_128(at: number, len: number, seedLo: number, seedHi: number): void;
}

/** One instance per thread; hashing is synchronous, so every hasher of the thread shares it. */
export class XXH3 {
  private bytes: Buffer;
  private words: Int32Array;
  /** The prefix now in memory, and where it ends (= where the text starts). */
  private written: Uint8Array | null = null;
  private textAt = TEXT_AT;

  constructor(private readonly ex: Exports) {
    this.bytes = Buffer.from(ex.memory.buffer);
    this.words = new Int32Array(ex.memory.buffer, RESULT_AT, 4);
  }

  /**
   * Writes XXH3-128(prefix ‖ text as UTF-16LE, seed) as four int32 words at out[at]: the low
   * u64's low and high word, then the high u64's. `prefix` must not change once passed here:
   * it is compared by identity, not by content.
   */
  hashUtf16(
    prefix: Uint8Array,
    text: string,
    seedLo: number,
    seedHi: number,
    out: Int32Array,
    at: number,
  ): void {
    if (prefix !== this.written) this.writePrefix(prefix);
    const textAt = this.textAt;
    const need = textAt + text.length * 2;
    if (need > this.bytes.length) this.grow(need);
    const n = ucs2Write(this.bytes, text, textAt);
    this.ex.xxh3_128(textAt - prefix.length, prefix.length + n, seedLo, seedHi);
    const w = this.words;
    out[at] = w[0]!;
    out[at + 1] = w[1]!;
    out[at + 2] = w[2]!;
    out[at + 3] = w[3]!;
  }

  /**
   * Writes XXH3-128(data, seed) as four int32 words into out[0..3], with data copied `offset`
   * bytes into the module's free memory (the text path's layout aside: tests place any bytes at
   * any alignment this way).
   */
  hashBytes(data: Uint8Array, seedLo: number, seedHi: number, out: Int32Array, offset = 0): void {
    const at = FREE_AT + offset;
    if (at + data.length > this.bytes.length) this.grow(at + data.length);
    this.bytes.set(data, at);
    this.written = null; // the data may cover the prefix
    this.ex.xxh3_128(at, data.length, seedLo, seedHi);
    out.set(this.words);
  }

  private writePrefix(prefix: Uint8Array): void {
    this.textAt = Math.max(TEXT_AT, FREE_AT + prefix.length);
    if (this.textAt > this.bytes.length) this.grow(this.textAt);
    this.bytes.set(prefix, this.textAt - prefix.length);
    this.written = prefix;
  }

  private grow(bytes: number): void {
    const mem = this.ex.memory;
    mem.grow(Math.ceil((bytes - mem.buffer.byteLength) / PAGE));
    // Growing detaches the old ArrayBuffer: views on it must be made again (the bytes stay).
    this.bytes = Buffer.from(mem.buffer);
    this.words = new Int32Array(mem.buffer, RESULT_AT, 4);
  }
}

/**
 * Buffer's own ucs2Write skips write()'s argument and encoding-name parsing; it is not in Node's
 * documentation, so where it is absent write(…, 'utf16le') does the same.
 */
const nativeUcs2 = (Buffer.prototype as { ucs2Write?: (s: string, offset: number) => number }).ucs2Write;
const ucs2Write: (buf: Buffer, text: string, at: number) => number =
  typeof nativeUcs2 === 'function'
    ? (buf, text, at) => nativeUcs2.call(buf, text, at)
    : (buf, text, at) => buf.write(text, at, 'utf16le');

let ready: Promise<XXH3> | undefined;

/**
 * Loads xxh3.wasm once per thread. Missing, it throws: there is no other implementation to fall
 * back on (the keys of a cache, its spill file and its fleet must come from one function, and a
 * JavaScript XXH3-128 on BigInts would be many times slower: a cache that silently got that slow
 * is worse than one that says what is wrong). The .wasm is built by `npm run build` and ships in
 * the package under dist/; it goes missing only in a checkout that was never built.
 */
export function loadXXH3(): Promise<XXH3> {
  ready ??= instantiateXXH3(new URL('./xxh3.wasm', import.meta.url)).catch((err: unknown) => {
    ready = undefined; // a build in the meantime lets a later open succeed
    throw err;
  });
  return ready;
}

/** A new instance of the module at `url`; the error of a missing file says how to make it. */
export async function instantiateXXH3(url: URL): Promise<XXH3> {
  let code: Buffer;
  try {
    code = await readFile(url);
  } catch (err) {
    throw new Error(
      `embedcache: cannot read the key hash module ${fileURLToPath(url)} (${(err as Error).message}). ` +
        'It is built from src/key/xxh3.wat by `npm run build`: run that in the embedcache package, or reinstall it.',
      { cause: err },
    );
  }
  const { instance } = await WebAssembly.instantiate(code);
  return new XXH3(instance.exports as Exports);
}
