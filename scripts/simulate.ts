/**
 * Trace simulator: replays a cache access trace through the real EmbeddingCache (one key per
 * access; on a miss, set) with maxEntries = the cache size, and prints its hit ratio beside an
 * exact LRU's over the same accesses.
 *
 *   npm run simulate -- [--traces DIR] [--only gli,OLTP] [--sizes 250,500] [--json FILE]
 *
 * Trace formats (see the traces' README): `.lis` (ARC): "start count x y" per line, expanding
 * to keys start … start+count-1; `.trace` (LIRS): one integer per line, blank lines and `*`
 * skipped; web07/web12: 4-byte big-endian signed integers.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { EmbeddingCache } from '../src/index.js';

const BINARY_TRACES = new Set(['web07.trace', 'web12.trace']);

/** Cache sizes per trace: the published table's where there is one, else fractions of the unique keys. */
const PUBLISHED_SIZES: Record<string, number[]> = {
  'OLTP.lis': [1000, 2000, 5000, 10000, 15000],
  'gli.trace': [250, 500, 750, 1000, 1250, 1500, 1750, 2000],
};

export function readTrace(path: string): Int32Array {
  const name = basename(path);
  const raw = readFileSync(path);
  if (BINARY_TRACES.has(name)) {
    const out = new Int32Array(raw.length >>> 2);
    for (let i = 0; i < out.length; i++) out[i] = raw.readInt32BE(i * 4);
    return out;
  }
  const keys: number[] = [];
  for (const line of raw.toString('latin1').split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('*')) continue;
    const parts = t.split(/\s+/);
    if (name.endsWith('.lis')) {
      const start = Number(parts[0]);
      const count = Number(parts[1]);
      for (let k = 0; k < count; k++) keys.push(start + k);
    } else {
      keys.push(Number(parts[0]));
    }
  }
  return Int32Array.from(keys);
}

/** Exact LRU over a Map (insertion order = recency order). */
export function lruHitRatio(trace: Int32Array, size: number): number {
  const m = new Map<number, true>();
  let hits = 0;
  for (const k of trace) {
    if (m.has(k)) {
      hits++;
      m.delete(k);
      m.set(k, true);
    } else {
      m.set(k, true);
      if (m.size > size) m.delete(m.keys().next().value!);
    }
  }
  return hits / trace.length;
}

export async function cacheHitRatio(trace: Int32Array, size: number): Promise<number> {
  const cache = await EmbeddingCache.open({
    maxEntries: size,
    maxBytes: 64 * 1024 * 1024,
    expectedEntries: size,
  });
  const v = new Float32Array(4);
  let hits = 0;
  for (const k of trace) {
    const text = String(k);
    if (cache.get(text) !== undefined) hits++;
    else {
      v[0] = k;
      cache.set(text, v);
    }
  }
  await cache.close();
  return hits / trace.length;
}

function defaultSizes(name: string, trace: Int32Array): number[] {
  const published = PUBLISHED_SIZES[name];
  if (published) return published;
  const unique = new Set(trace).size;
  return [0.05, 0.1, 0.25, 0.5].map((f) => Math.max(16, Math.round(unique * f)));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      traces: { type: 'string', default: resolve(import.meta.dirname, '../../shared/traces') },
      only: { type: 'string' },
      sizes: { type: 'string' },
      json: { type: 'string' },
    },
  });
  const dir = values.traces!;
  if (!existsSync(dir)) {
    console.error(
      `No trace folder at ${dir}. Pass --traces DIR (the public traces are not shipped with the package).`,
    );
    process.exit(2);
  }
  const only = values.only?.split(',').map((s) => s.trim());
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.trace') || f.endsWith('.lis'))
    .filter((f) => !only || only.some((o) => f.startsWith(o)))
    .sort();
  const rows: { trace: string; size: number; accesses: number; lru: number; embedcache: number }[] = [];
  console.log('trace          size    accesses   LRU %   embedcache %   Δ pp');
  for (const f of files) {
    const trace = readTrace(join(dir, f));
    const sizes = values.sizes ? values.sizes.split(',').map(Number) : defaultSizes(f, trace);
    for (const size of sizes) {
      const lru = lruHitRatio(trace, size);
      const ours = await cacheHitRatio(trace, size);
      rows.push({ trace: f, size, accesses: trace.length, lru, embedcache: ours });
      console.log(
        `${f.padEnd(14)} ${String(size).padStart(5)} ${String(trace.length).padStart(11)} ${(lru * 100).toFixed(2).padStart(7)} ${(ours * 100).toFixed(2).padStart(14)} ${((ours - lru) * 100).toFixed(2).padStart(6)}`,
      );
    }
  }
  const worse = rows.filter((r) => r.embedcache < r.lru - 1e-9);
  console.log(
    `\n${rows.length} runs; embedcache below LRU in ${worse.length}${worse.length ? ': ' + worse.map((r) => `${r.trace}@${r.size}`).join(', ') : ''}`,
  );
  if (values.json) writeFileSync(values.json, JSON.stringify({ node: process.version, rows }, null, 2));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
