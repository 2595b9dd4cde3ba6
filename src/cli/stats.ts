/**
 * `embedcache stats <dir>`: what a cache folder holds. Reads the file's meta records and scans
 * every record once (O(n), read-only) to count records per model and kind.
 */
import { statSync } from 'node:fs';
import { liveBytes, openCacheDir, type CacheDir } from './cache-dir.js';
import { classifyRecord } from './records.js';
import {
  emit,
  fingerprint,
  formatBytes,
  formatTime,
  progress,
  table,
  type CommonOptions,
  type ExitCode,
  EXIT_OK,
} from './common.js';
import { recordKeyModelId } from '../spill/format.js';

export interface ModelStats {
  name: string;
  id: number;
  dims: number;
  generation: number;
  /** Live records: current generation, holding a vector, not expired. */
  records: number;
  tombstones: number;
  expired: number;
  /** Records under older generations, waiting for the sweep. */
  unreachable: number;
}

export interface StatsResult {
  path: string;
  formatVersion: number;
  keyHash: string;
  /** First 8 hex digits of the key seed's SHA-256 (the seed itself is a secret). */
  seedFingerprint: string;
  createdMs: number;
  /** Every record in the file: live, expired, tombstones, old generations, corrupt (= stats().spill.entries). */
  entries: number;
  records: number;
  tombstones: number;
  expired: number;
  unreachable: number;
  corrupt: number;
  /** Pages that records and their indexes occupy × page size (what spill.maxBytes bounds). */
  bytes: number;
  /** Size of data.mdb, free pages included (`compact` gives those back). */
  fileBytes: number;
  pageSize: number;
  models: ModelStats[];
  fleet: { prefix: string; epoch: number; gens: Record<string, number> }[];
}

export function collectStats(dir: CacheDir, options: CommonOptions): StatsResult {
  const { entries, bytes, pageSize } = liveBytes(dir);
  const perModel = new Map<number, ModelStats>(
    dir.models.map((m) => [
      m.id,
      { ...m, records: 0, tombstones: 0, expired: 0, unreachable: 0 } satisfies ModelStats,
    ]),
  );
  const totals = { records: 0, tombstones: 0, expired: 0, unreachable: 0, corrupt: 0 };
  const bar = progress(options, 'stats', entries);
  const now = Date.now();
  let seen = 0;
  for (const { key, value } of dir.records.getRange({ snapshot: true })) {
    const state = classifyRecord(key, value, dir.modelsById, now);
    const field = state.kind === 'live' ? 'records' : state.kind === 'tombstone' ? 'tombstones' : state.kind;
    totals[field]++;
    if (field !== 'corrupt') perModel.get(recordKeyModelId(key))![field]++;
    if ((++seen & 1023) === 0) bar.update(seen);
  }
  bar.update(seen);
  bar.stop();
  return {
    path: dir.path,
    formatVersion: dir.format.formatVersion,
    keyHash: dir.format.keyHash,
    seedFingerprint: fingerprint(dir.format.seed),
    createdMs: dir.format.createdMs,
    entries,
    ...totals,
    bytes,
    fileBytes: statSync(dir.dataFile).size,
    pageSize,
    models: Array.from(perModel.values()).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    fleet: dir.fleet.map(({ prefix, marks }) => ({ prefix, epoch: marks.epoch, gens: marks.gens })),
  };
}

export async function statsCommand(path: string, options: CommonOptions): Promise<ExitCode> {
  const dir = openCacheDir(path);
  let result: StatsResult;
  try {
    result = collectStats(dir, options);
  } finally {
    await dir.close();
  }
  emit(options, result, () => statsText(result));
  return EXIT_OK;
}

function statsText(r: StatsResult): string[] {
  const lines = [
    r.path,
    `  format       version ${r.formatVersion}, key hash ${r.keyHash}, key seed ${r.seedFingerprint} (fingerprint), created ${formatTime(r.createdMs)}`,
    `  entries      ${r.entries}: ${r.records} live, ${r.tombstones} tombstones, ${r.expired} expired, ${r.unreachable} old-generation, ${r.corrupt} corrupt`,
    `  bytes        ${r.bytes} (${formatBytes(r.bytes)}) of live pages; data.mdb ${r.fileBytes} (${formatBytes(r.fileBytes)}); page size ${r.pageSize}`,
  ];
  if (r.models.length === 0) lines.push('  models       none');
  else {
    lines.push('  models');
    const rows = r.models.map((m) => [
      m.name,
      String(m.dims),
      String(m.generation),
      String(m.records),
      String(m.tombstones),
      String(m.expired),
      String(m.unreachable),
    ]);
    const header = ['name', 'dims', 'generation', 'records', 'tombstones', 'expired', 'old-gen'];
    for (const line of table(header, rows)) lines.push(`    ${line}`);
  }
  for (const f of r.fleet) {
    const gens = Object.entries(f.gens)
      .map(([m, g]) => `${m}=${g}`)
      .join(', ');
    lines.push(
      `  fleet        prefix '${f.prefix}': epoch ${f.epoch}${gens === '' ? '' : `, generations ${gens}`}`,
    );
  }
  return lines;
}
