import { Buffer } from 'node:buffer';
/**
 * Where returned vectors live. Allocating a fresh ArrayBuffer per result (3 KB for 768-d) costs
 * more than the lookup itself: V8 allocates such buffers outside its heap, one allocator call
 * each. So results are carved out of a 256 KiB ArrayBuffer at a time, as Node carves small
 * Buffers out of its pool: each result is a Float32Array no one else writes (a copy the caller
 * owns), but its `.buffer` may be shared with other results and `.byteOffset` may be non-zero.
 * Call `.slice()` on a result before transferring its buffer to another thread.
 *
 * Caveat: a chunk stays alive while any vector carved from it is reachable, so keeping one
 * vector in eighty (768-d) alive for a long time keeps all their memory; results larger than a chunk
 * get a buffer of their own.
 */
const CHUNK_BYTES = 256 * 1024;

/**
 * A chunk of uninitialized memory: every result is overwritten whole by the copy before it is
 * returned, so zero-filling (what `new ArrayBuffer` does, at several µs per chunk) is wasted.
 */
function newChunk(): ArrayBuffer {
  return Buffer.allocUnsafeSlow(CHUNK_BYTES).buffer as ArrayBuffer;
}

export class ResultPool {
  private chunk = newChunk();
  private offset = 0;

  /** A Float32Array of `floats` elements that no other result overlaps. Its contents are garbage until the caller writes them all. */
  take(floats: number): Float32Array {
    const bytes = floats * 4;
    if (bytes > CHUNK_BYTES / 4) return new Float32Array(floats);
    if (this.offset + bytes > CHUNK_BYTES) {
      this.chunk = newChunk();
      this.offset = 0;
    }
    const out = new Float32Array(this.chunk, this.offset, floats);
    this.offset += bytes;
    return out;
  }
}
