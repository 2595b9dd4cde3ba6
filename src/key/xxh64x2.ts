/**
 * The one-pass key hash: XXH64 of a text's UTF-16 code units under two seeds at once
 * (xxh64x2.wat, built into xxh64x2.wasm beside this file by `npm run build`).
 *
 * Why our own module: with xxhash-wasm a key took two h64Raw calls, and each copies the bytes
 * into its wasm memory, hashes them, and returns a BigInt that has to be masked and split into
 * words (four BigInt allocations a key). Here the text is written straight into this module's
 * memory (Buffer's ucs2Write: a memcpy for two-byte strings, a widening loop for one-byte ones),
 * one call reads each word once for both states, and the two results are read back as int32
 * words. The results are bit-identical to two xxhash-wasm h64Raw calls, so the keys are the same
 * whichever path hashed them (test/property/key-reference.property.test.ts).
 *
 * If the .wasm is missing (a build that skipped scripts/build-wasm.mjs), loadXXH64x2() resolves
 * to null and the hasher uses xxhash-wasm twice: slower, same keys. `KeyHasher.onePass` says
 * which path a hasher uses.
 */
import { readFile } from 'node:fs/promises';

/** Bytes before the input in the module's memory: the two 64-bit results. */
const DATA_AT = 16;
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
  xxh64x2(at: number, len: number, seedA: bigint, seedB: bigint): void;
}

/** One instance per thread; hash() is synchronous, so every hasher of the thread shares it. */
export class XXH64x2 {
  private bytes: Buffer;
  private words: Int32Array;

  constructor(private readonly ex: Exports) {
    this.bytes = Buffer.from(ex.memory.buffer);
    this.words = new Int32Array(ex.memory.buffer, 0, 4);
  }

  /** Writes xxh64(text as UTF-16LE, seedA) ‖ xxh64(…, seedB) as four int32 words at out[at]. */
  hashUtf16(text: string, seedA: bigint, seedB: bigint, out: Int32Array, at: number): void {
    const need = DATA_AT + text.length * 2;
    if (need > this.bytes.length) this.grow(need);
    const n = ucs2Write(this.bytes, text, DATA_AT);
    this.ex.xxh64x2(DATA_AT, n, seedA, seedB);
    const w = this.words;
    out[at] = w[0]!;
    out[at + 1] = w[1]!;
    out[at + 2] = w[2]!;
    out[at + 3] = w[3]!;
  }

  private grow(bytes: number): void {
    const mem = this.ex.memory;
    mem.grow(Math.ceil((bytes - mem.buffer.byteLength) / PAGE));
    // Growing detaches the old ArrayBuffer: views on it must be made again.
    this.bytes = Buffer.from(mem.buffer);
    this.words = new Int32Array(mem.buffer, 0, 4);
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

let ready: Promise<XXH64x2 | null> | undefined;

/** Loads xxh64x2.wasm once per thread; null when the build did not produce it. */
export function loadXXH64x2(): Promise<XXH64x2 | null> {
  ready ??= (async () => {
    let code: Buffer;
    try {
      code = await readFile(new URL('./xxh64x2.wasm', import.meta.url));
    } catch {
      return null;
    }
    const { instance } = await WebAssembly.instantiate(code);
    return new XXH64x2(instance.exports as Exports);
  })();
  return ready;
}
