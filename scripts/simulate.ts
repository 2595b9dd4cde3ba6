/**
 * Trace simulator: replays cache access traces through the real EmbeddingCache (one key per
 * access; on a miss, set) with maxEntries = the cache size, and through LRU, ARC and the optimal
 * offline policy (Belady's OPT) at the same size, all in one run, and prints one table of hit
 * ratios with the gap between embedcache and ARC in percentage points.
 *
 *   npm run simulate -- [--traces DIR] [--only gli,OLTP] [--sizes 250,500] [--json FILE]
 *                       [--policies lru,arc,car,carslots,opt,embedcache]
 *
 * Traces missing from DIR are skipped. The policies live in scripts/simulate/ (one file each);
 * the trace formats in scripts/simulate/traces.ts. Where the traces' README publishes figures
 * (OLTP: LRU and ARC; gli: LRU), they are checked after the table.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { arc } from './simulate/arc.js';
import { car } from './simulate/car.js';
import { carSlots } from './simulate/car-slots.js';
import { belady, nextUses } from './simulate/belady.js';
import { embedcache } from './simulate/embedcache.js';
import { lru } from './simulate/lru.js';
import { replay, type Policy } from './simulate/policy.js';
import {
  columns,
  formatRow,
  header,
  parsePolicies,
  POLICY_TITLES,
  type PolicyId,
  type Row,
} from './simulate/table.js';
import { defaultSizes, listTraces, PUBLISHED, readTrace } from './simulate/traces.js';

export { readTrace } from './simulate/traces.js';

async function makePolicy(
  id: PolicyId,
  size: number,
  trace: Int32Array,
  next: () => Int32Array,
): Promise<Policy> {
  switch (id) {
    case 'embedcache':
      return embedcache(size);
    case 'lru':
      return lru(size);
    case 'arc':
      return arc(size);
    case 'car':
      return car(size);
    case 'carslots':
      return carSlots(size);
    case 'opt':
      return belady(size, trace, next());
  }
}

function publishedCheck(rows: Row[]): string[] {
  const out: string[] = [];
  for (const [file, pub] of Object.entries(PUBLISHED)) {
    for (const id of ['lru', 'arc'] as const) {
      const figures = pub[id];
      if (!figures) continue;
      const cells: string[] = [];
      for (const [j, size] of pub.sizes.entries()) {
        const ours = rows.find((r) => r.trace === file && r.size === size)?.ratios[id];
        if (ours === undefined) continue;
        const d = Math.round((ours * 100 - figures[j]!) * 100) / 100 || 0;
        cells.push(
          `${size}: ${(ours * 100).toFixed(2)} vs ${figures[j]!.toFixed(2)} (${d >= 0 ? '+' : ''}${d.toFixed(2)})`,
        );
      }
      if (cells.length) out.push(`  ${file} ${POLICY_TITLES[id].replace(' %', '')}: ${cells.join(', ')}`);
    }
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      traces: { type: 'string', default: resolve(import.meta.dirname, '../../shared/traces') },
      only: { type: 'string' },
      sizes: { type: 'string' },
      json: { type: 'string' },
      policies: { type: 'string' },
    },
  });
  let policies: PolicyId[];
  try {
    policies = parsePolicies(values.policies);
  } catch (err) {
    console.error(`--policies: ${(err as Error).message}`);
    process.exit(2);
  }
  const dir = values.traces!;
  if (!existsSync(dir)) {
    console.error(
      `No trace folder at ${dir}. Pass --traces DIR (the public traces are not shipped with the package).`,
    );
    process.exit(2);
  }
  const only = values.only?.split(',').map((s) => s.trim());
  const files = listTraces(dir, only);
  const missing = only?.filter((o) => !files.some((f) => f.startsWith(o))) ?? [];
  if (missing.length) console.log(`skipped (no such trace in ${dir}): ${missing.join(', ')}\n`);
  const started = performance.now();
  const seconds: Partial<Record<PolicyId, number>> = {};
  const rows: Row[] = [];
  const cols = columns(policies);
  console.log(header(cols));
  for (const f of files) {
    const trace = readTrace(join(dir, f));
    if (trace.length === 0) {
      console.log(`(${f}: empty, skipped)`);
      continue;
    }
    let next: Int32Array | undefined;
    const nextOnce = (): Int32Array => (next ??= nextUses(trace));
    const sizes = values.sizes ? values.sizes.split(',').map(Number) : defaultSizes(f, trace);
    for (const size of sizes) {
      const row: Row = { trace: f, size, accesses: trace.length, ratios: {} };
      for (const id of policies) {
        const t0 = performance.now();
        const policy = await makePolicy(id, size, trace, nextOnce);
        try {
          row.ratios[id] = replay(policy, trace) / trace.length;
        } finally {
          await policy.close?.();
        }
        seconds[id] = (seconds[id] ?? 0) + (performance.now() - t0) / 1000;
      }
      rows.push(row);
      console.log(formatRow(cols, row));
    }
  }
  const total = (performance.now() - started) / 1000;
  console.log('');
  for (const base of ['lru', 'arc'] as const) {
    if (!policies.includes('embedcache') || !policies.includes(base)) continue;
    const worse = rows.filter((r) => r.ratios.embedcache! < r.ratios[base]! - 1e-9);
    console.log(
      `${rows.length} runs; embedcache below ${base.toUpperCase()} in ${worse.length}` +
        (worse.length ? ': ' + worse.map((r) => `${r.trace}@${r.size}`).join(', ') : ''),
    );
  }
  const checks = publishedCheck(rows);
  if (checks.length) console.log(`published figures (ours vs published, pp):\n${checks.join('\n')}`);
  console.log(
    `time: ${total.toFixed(1)} s (` +
      policies
        .map((id) => `${POLICY_TITLES[id].replace(' %', '')} ${(seconds[id] ?? 0).toFixed(1)} s`)
        .join(', ') +
      ')',
  );
  if (values.json) {
    const flat = rows.map((r) => ({ trace: r.trace, size: r.size, accesses: r.accesses, ...r.ratios }));
    writeFileSync(
      values.json,
      JSON.stringify({ node: process.version, policies, seconds: total, rows: flat }, null, 2),
    );
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
