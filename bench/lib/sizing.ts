/**
 * How big a cache the suites open. Every suite passes maxBytes and expectedEntries explicitly,
 * as a user sizing a cache for a known workload would, so that no measurement is an accident of
 * the defaults (512 MiB, index sized for maxBytes / 2 KiB entries).
 */

/**
 * Bytes enough to hold `entries` vectors of `dims` floats without eviction: the vector plus
 * ~64 B of per-entry metadata, 10 % for partly filled 256 KiB pages, the hash index (≤ 8 B per
 * expected entry) and 16 MiB of slack for the fixed control block.
 */
export function bytesFor(entries: number, dims: number): number {
  const perEntry = dims * 4 + 64;
  return Math.ceil(entries * perEntry * 1.1 + entries * 8 + 16 * 1024 * 1024);
}

/** Ideal bytes per entry: the floats alone. */
export function vectorBytes(dims: number): number {
  return dims * 4;
}
