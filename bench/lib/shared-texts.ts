/**
 * Hands a pool of texts to worker threads without copying it per worker: the UTF-8 bytes and an
 * offsets table go into SharedArrayBuffers (cloned by reference in workerData), and each worker
 * decodes its own strings once at start-up. Sending 10k texts of ~1 KB in workerData would copy
 * ~10 MB into every worker; sending them per task would make the benchmark measure
 * postMessage. The decoder lives in bench/workers/texts.mjs (workers load plain JS).
 */

export interface PackedTexts {
  /** UTF-8 bytes of every text, back to back. */
  bytes: SharedArrayBuffer;
  /** Int32Array of count + 1 byte offsets: text i is bytes[offsets[i] .. offsets[i + 1]). */
  offsets: SharedArrayBuffer;
  count: number;
}

export function packTexts(texts: readonly string[]): PackedTexts {
  const encoder = new TextEncoder();
  const encoded = texts.map((t) => encoder.encode(t));
  const total = encoded.reduce((s, e) => s + e.length, 0);
  const bytes = new SharedArrayBuffer(total);
  const offsets = new SharedArrayBuffer((texts.length + 1) * 4);
  const b = new Uint8Array(bytes);
  const o = new Int32Array(offsets);
  let at = 0;
  encoded.forEach((e, i) => {
    o[i] = at;
    b.set(e, at);
    at += e.length;
  });
  o[texts.length] = at;
  return { bytes, offsets, count: texts.length };
}
