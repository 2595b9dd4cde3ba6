// Decodes the texts packed by bench/lib/shared-texts.ts (SharedArrayBuffers of UTF-8 bytes and
// offsets) into this thread's own strings, once, at worker start-up.
export function unpackTexts(packed) {
  const bytes = new Uint8Array(packed.bytes);
  const offsets = new Int32Array(packed.offsets);
  const decoder = new TextDecoder();
  const out = new Array(packed.count);
  for (let i = 0; i < packed.count; i++) {
    // TextDecoder refuses views over shared memory: copy each text out first (start-up only).
    out[i] = decoder.decode(bytes.slice(offsets[i], offsets[i + 1]));
  }
  return out;
}

// mulberry32: the same small PRNG as bench/lib/texts.ts, for per-task key and op choices.
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
