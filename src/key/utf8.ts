/**
 * Lossless bytes for a JavaScript string. TextEncoder maps each lone surrogate to U+FFFD, so
 * "a\uD800" and "a\uFFFD" would encode alike and share a key. Well-formed strings (all real
 * text) are UTF-8; an ill-formed one becomes 0xFF followed by its UTF-16LE code units. 0xFF
 * never occurs in UTF-8, so the two forms cannot meet.
 */
const encoder = new TextEncoder();

export const ILL_FORMED_MARK = 0xff;

/** Encodes s into buf (which must hold s.length * 3 + 1 bytes) and returns the byte count. */
export function encodeLosslessInto(s: string, buf: Uint8Array): number {
  if (s.isWellFormed()) return encoder.encodeInto(s, buf).written;
  buf[0] = ILL_FORMED_MARK;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    buf[1 + 2 * i] = c & 0xff;
    buf[2 + 2 * i] = c >>> 8;
  }
  return 1 + 2 * s.length;
}

export function encodeLossless(s: string): Uint8Array {
  const buf = new Uint8Array(s.length * 3 + 1);
  return buf.slice(0, encodeLosslessInto(s, buf));
}
