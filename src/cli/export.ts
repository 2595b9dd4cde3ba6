/**
 * `embedcache export <dir> --out <file> [--model m]...`: writes the live records of a cache
 * folder (all models, or those named) to an export file (format: export-format.ts). Read-only
 * on the folder. The file is written next to its final path and renamed into place once
 * complete, so a failed export never leaves a partial file under that name.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { generationStart, HEADER_BYTES, MAX_U32, recordCreatedMs, recordExpiresMs } from '../spill/format.js';
import { liveBytes, openCacheDir, type CacheDir, type ModelEntry } from './cache-dir.js';
import { classifyRecord, recordName } from './records.js';
import {
  emit,
  formatBytes,
  ioError,
  note,
  progress,
  usageError,
  type CommonOptions,
  type ExitCode,
  EXIT_OK,
  EXIT_PROBLEM,
} from './common.js';
import { ExportWriter, type ExportMeta } from './export-format.js';

export interface ExportOptions extends CommonOptions {
  out: string;
  model?: string[];
}

export interface ExportResult {
  path: string;
  out: string;
  records: number;
  /** Size of the export file. */
  bytes: number;
  /** Records written per model. */
  models: Record<string, number>;
  skipped: { expired: number; tombstones: number; corrupt: number };
}

/** The models to export, in UTF-8 byte order of their names (the file's record order). */
function selectModels(dir: CacheDir, names: string[] | undefined): ModelEntry[] {
  const byBytes = (a: ModelEntry, b: ModelEntry): number =>
    Buffer.compare(Buffer.from(a.name), Buffer.from(b.name));
  if (names === undefined || names.length === 0) return [...dir.models].sort(byBytes);
  const known = new Map(dir.models.map((m) => [m.name, m]));
  const missing = names.filter((n) => !known.has(n));
  if (missing.length > 0) {
    const list = dir.models.map((m) => `'${m.name}'`).join(', ') || 'none';
    throw usageError(`no model ${missing.map((n) => `'${n}'`).join(', ')} in ${dir.path} (models: ${list})`);
  }
  return Array.from(new Set(names), (n) => known.get(n)!).sort(byBytes);
}

function writeExport(dir: CacheDir, models: ModelEntry[], out: string, options: ExportOptions): ExportResult {
  const meta: ExportMeta = { fleet: {} };
  for (const { prefix, marks } of dir.fleet) meta.fleet[prefix] = { epoch: marks.epoch, gens: marks.gens };
  const result: ExportResult = {
    path: dir.path,
    out,
    records: 0,
    bytes: 0,
    models: {},
    skipped: { expired: 0, tombstones: 0, corrupt: 0 },
  };
  const temp = `${out}.tmp-${process.pid}`;
  let fd: number;
  try {
    fd = openSync(temp, 'w');
  } catch (err) {
    throw ioError('write', out, err);
  }
  const bar = progress(options, 'export', liveBytes(dir).entries);
  let seen = 0;
  try {
    const writer = new ExportWriter(fd, out, { keyHash: dir.format.keyHash, seed: dir.format.seed, meta });
    const now = Date.now();
    for (const model of models) {
      const name = Buffer.from(model.name, 'utf8');
      let written = 0;
      const range = {
        start: generationStart(model.id, model.generation),
        end:
          model.generation < MAX_U32
            ? generationStart(model.id, model.generation + 1)
            : generationStart(model.id + 1, 0),
        snapshot: true,
      };
      for (const { key, value } of dir.records.getRange(range)) {
        if ((++seen & 1023) === 0) bar.update(seen);
        const state = classifyRecord(key, value, dir.modelsById, now);
        if (state.kind === 'live') {
          writer.write(
            name,
            key.subarray(8),
            recordCreatedMs(value),
            recordExpiresMs(value),
            value.subarray(HEADER_BYTES),
          );
          written++;
        } else if (state.kind === 'corrupt') {
          result.skipped.corrupt++;
          const r = recordName(key, dir.modelsById);
          note(options, `embedcache: skipped corrupt record: model ${r.model}, key ${r.key}: ${state.why}`);
        } else if (state.kind === 'tombstone') result.skipped.tombstones++;
        else if (state.kind === 'expired') result.skipped.expired++;
      }
      result.models[model.name] = written;
      result.records += written;
    }
    writer.finish();
    fsyncSync(fd);
    closeSync(fd);
    renameSync(temp, out);
    result.bytes = writer.bytes;
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
    rmSync(temp, { force: true });
    throw err;
  } finally {
    bar.setTotal(seen);
    bar.update(seen);
    bar.stop();
  }
  return result;
}

export async function exportCommand(path: string, options: ExportOptions): Promise<ExitCode> {
  const out = resolve(options.out);
  let existing;
  try {
    existing = statSync(out);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw ioError('write', out, err);
  }
  if (existing?.isDirectory() === true) throw usageError(`--out ${out} is a folder; give a file path`);
  const dir = openCacheDir(path);
  let result: ExportResult;
  try {
    result = writeExport(dir, selectModels(dir, options.model), out, options);
  } finally {
    await dir.close();
  }
  emit(options, result, () => {
    const per = Object.entries(result.models)
      .map(([m, n]) => `${m} ${n}`)
      .join(', ');
    const { expired, tombstones, corrupt } = result.skipped;
    return [
      `exported ${result.records} records (${per || 'no models'}) from ${result.path} to ${result.out} (${formatBytes(result.bytes)})`,
      `  skipped: ${expired} expired, ${tombstones} tombstones, ${corrupt} corrupt`,
    ];
  });
  return result.skipped.corrupt > 0 ? EXIT_PROBLEM : EXIT_OK;
}
