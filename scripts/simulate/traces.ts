/**
 * Trace files (see ../shared/traces/README.md):
 * - `.lis` (ARC paper): "start count x y" per line, expanding to keys start … start+count-1;
 * - `.trace` (LIRS): one integer key per line, blank lines and lines starting with `*` skipped;
 * - web07/web12 `.trace` (cache2k): binary, 4-byte big-endian signed integers.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { basename } from 'node:path';

export const BINARY_TRACES = new Set(['web07.trace', 'web12.trace']);

/** Published hit ratios (%) per trace file, by policy, at `sizes` (the traces' README). */
export interface Published {
  sizes: number[];
  lru?: number[];
  arc?: number[];
}

export const PUBLISHED: Record<string, Published> = {
  // ARC paper, Table IV.
  'OLTP.lis': {
    sizes: [1000, 2000, 5000, 10000, 15000],
    lru: [32.83, 42.47, 53.65, 60.7, 64.63],
    arc: [38.93, 46.08, 55.25, 61.87, 65.4],
  },
  // BitFaster.Caching benchmarks.
  'gli.trace': {
    sizes: [250, 500, 750, 1000, 1250, 1500, 1750, 2000],
    lru: [0.91, 0.95, 1.15, 11.21, 21.25, 36.56, 45.04, 57.41],
  },
};

/** Parses a trace held in memory; `name` (the file's base name) picks the format. */
export function parseTrace(name: string, raw: Buffer): Int32Array {
  if (BINARY_TRACES.has(name)) {
    const out = new Int32Array(raw.length >>> 2);
    for (let i = 0; i < out.length; i++) out[i] = raw.readInt32BE(i * 4);
    return out;
  }
  const lis = name.endsWith('.lis');
  const keys: number[] = [];
  for (const line of raw.toString('latin1').split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('*')) continue;
    const parts = t.split(/\s+/);
    if (lis) {
      const start = Number(parts[0]);
      const count = Number(parts[1]);
      for (let k = 0; k < count; k++) keys.push(start + k);
    } else {
      keys.push(Number(parts[0]));
    }
  }
  return Int32Array.from(keys);
}

export function readTrace(path: string): Int32Array {
  return parseTrace(basename(path), readFileSync(path));
}

/** The trace files of `dir` (`.trace`, `.lis`), sorted, those starting with one of `only` if given. */
export function listTraces(dir: string, only?: string[]): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.trace') || f.endsWith('.lis'))
    .filter((f) => !only || only.some((o) => f.startsWith(o)))
    .sort();
}

/** Cache sizes for a trace: the published table's where there is one, else fractions of the unique keys. */
export function defaultSizes(name: string, trace: Int32Array): number[] {
  const published = PUBLISHED[name];
  if (published) return published.sizes;
  const unique = new Set(trace).size;
  return [0.05, 0.1, 0.25, 0.5].map((f) => Math.max(16, Math.round(unique * f)));
}
