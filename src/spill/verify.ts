/**
 * verify(): a whole-file scan that checks the spill file's invariants. Apart from tier.ts
 * because it is O(n) and for tests and diagnostics only, never on a hot path; it reads the
 * databases and changes nothing.
 */
import {
  indexEntryLive,
  indexKey,
  indexKeyRecordKey,
  isStoredRecord,
  isTombstone,
  recordExpiresMs,
  recordGeneration,
  recordKeyGeneration,
  recordKeyModelId,
  recordModelId,
  recordWrittenMs,
} from './format.js';
import { storedModels } from './models.js';
import type { SpillDbs, SpillVerifyReport } from './types.js';

/**
 * Scans the whole file and checks its invariants: every record decodes and matches its key,
 * every reachable record has its age entry, no index entry points nowhere.
 */
export function verify(dbs: Pick<SpillDbs, 'meta' | 'records' | 'age' | 'expiry'>): SpillVerifyReport {
  const { meta, records, age, expiry } = dbs;
  const report: SpillVerifyReport = {
    records: 0,
    tombstones: 0,
    corrupt: 0,
    unreachable: 0,
    missingAge: 0,
    staleIndex: 0,
  };
  const generations = new Map<number, number>();
  for (const [, m] of storedModels(meta)) generations.set(m.id, m.generation);
  for (const { key, value } of records.getRange({ snapshot: true })) {
    if (isTombstone(value)) report.tombstones++;
    else report.records++;
    if (
      !isStoredRecord(value) ||
      recordModelId(value) !== recordKeyModelId(key) ||
      recordGeneration(value) !== recordKeyGeneration(key)
    ) {
      report.corrupt++;
      continue;
    }
    if (generations.get(recordKeyModelId(key)) !== recordKeyGeneration(key)) report.unreachable++;
    if (age.getBinaryFast(indexKey(recordWrittenMs(value), key)) === undefined) report.missingAge++;
  }
  for (const [db, instant] of [
    [age, recordWrittenMs],
    [expiry, recordExpiresMs],
  ] as const) {
    for (const k of db.getKeys({ snapshot: true })) {
      if (!indexEntryLive(k, records.getBinary(indexKeyRecordKey(k)), instant)) report.staleIndex++;
    }
  }
  return report;
}
