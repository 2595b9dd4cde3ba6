/**
 * `embedcache verify <dir>`: a read-only scan of every record and index entry. The same checks
 * as SpillTier.verify() (spill/verify.ts), made one streaming pass that names each corrupt
 * record and why, without stopping at the first.
 *
 * Problems (exit 1): corrupt records (see records.ts classifyRecord) and records without
 * their age index entry (maxBytes could never evict them). Reported but not problems: stale
 * index entries (left by races between writers; maintenance drops them), records of an expiring
 * entry without their expiry index entry, expired records and old generations (deleted by
 * maintenance when a cache next opens the folder).
 */
import {
  indexEntryLive,
  indexKey,
  indexKeyRecordKey,
  recordExpiresMs,
  recordWrittenMs,
} from '../spill/format.js';
import { openCacheDir, type CacheDir } from './cache-dir.js';
import { classifyRecord, recordName, type RecordName } from './records.js';
import { emit, progress, type CommonOptions, type ExitCode, EXIT_OK, EXIT_PROBLEM } from './common.js';

export interface VerifyOptions extends CommonOptions {
  /** Most corrupt records listed (all are counted). */
  limit?: number;
}

export interface VerifyResult {
  path: string;
  ok: boolean;
  /** Records scanned (every key of the records database). */
  scanned: number;
  records: number;
  tombstones: number;
  expired: number;
  unreachable: number;
  corrupt: number;
  /** The first `limit` corrupt records. */
  corruptRecords: (RecordName & { why: string })[];
  missingAge: number;
  missingExpiry: number;
  staleIndex: number;
}

export function verifyDir(dir: CacheDir, options: VerifyOptions): VerifyResult {
  const limit = options.limit ?? 1000;
  const result: VerifyResult = {
    path: dir.path,
    ok: true,
    scanned: 0,
    records: 0,
    tombstones: 0,
    expired: 0,
    unreachable: 0,
    corrupt: 0,
    corruptRecords: [],
    missingAge: 0,
    missingExpiry: 0,
    staleIndex: 0,
  };
  const { records, age, expiry } = dir;
  const entries = (records.getStats() as { entryCount: number }).entryCount;
  const indexes = (db: typeof age): number => (db.getStats() as { entryCount: number }).entryCount;
  const bar = progress(options, 'verify', entries + indexes(age) + indexes(expiry));
  const now = Date.now();
  let done = 0;
  const tick = (): void => {
    if ((++done & 1023) === 0) bar.update(done);
  };
  try {
    for (const { key, value } of records.getRange({ snapshot: true })) {
      result.scanned++;
      tick();
      const state = classifyRecord(key, value, dir.modelsById, now);
      if (state.kind === 'corrupt') {
        result.corrupt++;
        if (result.corruptRecords.length < limit)
          result.corruptRecords.push({ ...recordName(key, dir.modelsById), why: state.why });
        continue;
      }
      if (state.kind === 'live') result.records++;
      else if (state.kind === 'tombstone') result.tombstones++;
      else result[state.kind]++;
      if (age.getBinaryFast(indexKey(recordWrittenMs(value), key)) === undefined) result.missingAge++;
      const expiresMs = recordExpiresMs(value);
      if (expiresMs !== 0 && expiry.getBinaryFast(indexKey(expiresMs, key)) === undefined)
        result.missingExpiry++;
    }
    for (const [db, instant] of [
      [age, recordWrittenMs],
      [expiry, recordExpiresMs],
    ] as const) {
      for (const k of db.getKeys({ snapshot: true })) {
        tick();
        if (!indexEntryLive(k, records.getBinary(indexKeyRecordKey(k)), instant)) result.staleIndex++;
      }
    }
  } finally {
    bar.update(done);
    bar.stop();
  }
  result.ok = result.corrupt === 0 && result.missingAge === 0;
  return result;
}

export async function verifyCommand(path: string, options: VerifyOptions): Promise<ExitCode> {
  const dir = openCacheDir(path);
  let result: VerifyResult;
  try {
    result = verifyDir(dir, options);
  } finally {
    await dir.close();
  }
  emit(options, result, () => verifyText(result));
  return result.ok ? EXIT_OK : EXIT_PROBLEM;
}

function verifyText(r: VerifyResult): string[] {
  const lines = [
    `${r.path}: ${r.ok ? 'ok' : 'PROBLEMS FOUND'}`,
    `  scanned ${r.scanned} records: ${r.records} live, ${r.tombstones} tombstones, ${r.expired} expired, ${r.unreachable} old-generation, ${r.corrupt} corrupt`,
  ];
  for (const c of r.corruptRecords)
    lines.push(
      `  corrupt  model ${c.model} (id ${c.modelId}), generation ${c.generation}, key ${c.key}: ${c.why}`,
    );
  if (r.corrupt > r.corruptRecords.length)
    lines.push(`  ... and ${r.corrupt - r.corruptRecords.length} more corrupt records (raise --limit)`);
  if (r.missingAge > 0)
    lines.push(`  ${r.missingAge} records have no age index entry (maxBytes cannot evict them)`);
  if (r.missingExpiry > 0)
    lines.push(`  note: ${r.missingExpiry} expiring records have no expiry index entry`);
  if (r.staleIndex > 0)
    lines.push(`  note: ${r.staleIndex} stale index entries (harmless; a cache's maintenance drops them)`);
  return lines;
}
