/**
 * `embedcache import <file> <dir>`: loads an export file (export-format.ts) into a cache folder,
 * creating it if it does not exist (or is empty), else adding to the cache there.
 *
 * The file is read through once first (every record checked, then its count and SHA-256), so a
 * damaged or truncated file changes nothing. The folder must agree with the file: same key hash
 * and key seed (else no imported key would ever be found), the same dims for models both hold,
 * and the same fleet generations for a remote prefix both record; otherwise nothing is written.
 * A new folder gets the file's key seed, so a cache opened on it finds every key again.
 *
 * Records are written through SpillTier (persist), as a cache would write them: expired ones are
 * skipped, each counts as written at import time (its place in the eviction order), and an
 * imported record replaces the folder's copy of the same key. The tier opens with no maxBytes
 * bound, so an import never evicts; a cache opened later with spill.maxBytes applies it.
 */
import { resolve } from 'node:path';
import { EmbeddingCacheError } from '../errors.js';
import { SpillTier } from '../spill/tier.js';
import { openCacheDir, targetState } from './cache-dir.js';
import {
  CliError,
  emit,
  EXIT_CANNOT_OPEN,
  EXIT_OK,
  EXIT_PROBLEM,
  fingerprint,
  progress,
  type CommonOptions,
  type ExitCode,
} from './common.js';
import { notAnExport, type ExportHeader } from './export-format.js';
import { ExportReader } from './export-reader.js';

export interface ImportResult {
  file: string;
  path: string;
  /** True when the folder was created (or was empty) and is now a new cache. */
  created: boolean;
  /** Records in the file. */
  records: number;
  /** Records written. */
  imported: number;
  /** Records imported per model. */
  models: Record<string, number>;
  skipped: { expired: number };
  /** Records that could not be written (counted by the spill tier; it logs the first failure). */
  failed: number;
}

const FLUSH_EVERY = 8192;
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function incompatible(message: string): CliError {
  return new CliError(EXIT_CANNOT_OPEN, message, 'INCOMPATIBLE');
}

/** Reads the whole file once: checks every record and the trailer; returns the models' dims and the count. */
function survey(file: string): { header: ExportHeader; dims: Map<string, number>; records: number } {
  const reader = ExportReader.open(file);
  try {
    const dims = new Map<string, number>();
    let records = 0;
    for (const rec of reader.records()) {
      records++;
      const known = dims.get(rec.model);
      if (known === undefined) dims.set(rec.model, rec.dims);
      else if (known !== rec.dims)
        throw notAnExport(file, `model '${rec.model}' has records of ${known} and of ${rec.dims} dims`);
    }
    return { header: reader.header, dims, records };
  } finally {
    reader.close();
  }
}

/** Throws CliError (exit 3, nothing written) when the existing cache at `path` disagrees with the file. */
async function checkTarget(
  path: string,
  file: string,
  header: ExportHeader,
  dims: Map<string, number>,
): Promise<void> {
  const dir = openCacheDir(path);
  try {
    const f = dir.format;
    if (f.keyHash !== header.keyHash) {
      throw incompatible(
        `cannot import ${file} into ${dir.path}: the cache uses keyHash '${f.keyHash}' and the export '${header.keyHash}', so no key would match (import into a new folder)`,
      );
    }
    if (Buffer.compare(Buffer.from(f.seed), Buffer.from(header.seed)) !== 0) {
      throw incompatible(
        `cannot import ${file} into ${dir.path}: the cache's key seed (${fingerprint(f.seed)}) differs from the export's (${fingerprint(header.seed)}), so no imported key would be found (import into a new folder)`,
      );
    }
    for (const m of dir.models) {
      const want = dims.get(m.name);
      if (want !== undefined && m.dims !== 0 && m.dims !== want) {
        throw incompatible(
          `cannot import ${file} into ${dir.path}: model '${m.name}' has ${m.dims} dims there and ${want} in the export`,
        );
      }
    }
    for (const { prefix, marks } of dir.fleet) {
      const theirs = header.meta.fleet[prefix];
      if (
        theirs !== undefined &&
        JSON.stringify(sortedMarks(theirs)) !== JSON.stringify(sortedMarks(marks))
      ) {
        throw incompatible(
          `cannot import ${file} into ${dir.path}: its records were written under other fleet generations for remote prefix '${prefix}'`,
        );
      }
    }
  } finally {
    await dir.close();
  }
}

function sortedMarks(m: { epoch: number; gens: Record<string, number> }): unknown {
  return [m.epoch, Object.entries(m.gens).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))];
}

function openTier(path: string, header: ExportHeader): SpillTier {
  try {
    return SpillTier.open({
      path,
      keyHash: header.keyHash,
      seed: header.seed,
      maxBytes: Infinity,
      persist: true,
    });
  } catch (err) {
    if (err instanceof EmbeddingCacheError) throw new CliError(EXIT_CANNOT_OPEN, err.message, 'NOT_A_CACHE');
    throw err;
  }
}

export async function importCommand(file: string, path: string, options: CommonOptions): Promise<ExitCode> {
  const { header, dims, records } = survey(file);
  const state = targetState(path);
  if (state === 'cache') await checkTarget(path, file, header, dims);
  const tier = openTier(path, header);
  const result: ImportResult = {
    file: resolve(file),
    path: tier.path,
    created: state !== 'cache',
    records,
    imported: 0,
    models: {},
    skipped: { expired: 0 },
    failed: 0,
  };
  const bar = progress(options, 'import', records);
  let reader: ExportReader | undefined;
  try {
    if (Buffer.compare(Buffer.from(tier.seed), Buffer.from(header.seed)) !== 0)
      throw incompatible(
        `cannot import ${file} into ${tier.path}: another process created a cache there meanwhile`,
      );
    for (const [prefix, marks] of Object.entries(header.meta.fleet)) {
      if (tier.fleetMarks(prefix) === undefined && !(await tier.saveFleetMarks(prefix, marks)))
        throw new CliError(EXIT_CANNOT_OPEN, `cannot record the fleet generations in ${tier.path}`, 'IO');
    }
    reader = ExportReader.open(file);
    const scratch = new Map<number, Float32Array>();
    let seen = 0;
    for (const rec of reader.records()) {
      seen++;
      if (rec.expiresMs !== 0 && rec.expiresMs <= Date.now()) {
        result.skipped.expired++;
        continue;
      }
      let vector = scratch.get(rec.dims);
      if (vector === undefined) scratch.set(rec.dims, (vector = new Float32Array(rec.dims)));
      if (LITTLE_ENDIAN_HOST) new Uint8Array(vector.buffer).set(rec.vector);
      else {
        const view = new DataView(rec.vector.buffer, rec.vector.byteOffset, rec.vector.byteLength);
        for (let i = 0; i < rec.dims; i++) vector[i] = view.getFloat32(4 * i, true);
      }
      // enqueue copies the key and the vector before it returns.
      tier.enqueue({
        key: rec.key,
        model: rec.model,
        vector,
        createdMs: rec.createdMs,
        expiresMs: rec.expiresMs,
      });
      result.imported++;
      result.models[rec.model] = (result.models[rec.model] ?? 0) + 1;
      if (seen % 1024 === 0) bar.update(seen);
      if (seen % FLUSH_EVERY === 0) await tier.flush(); // bounds what waits in memory for the disk
    }
    await tier.flush();
    bar.update(seen);
    result.failed = tier.stats().errors;
    result.imported -= Math.min(result.failed, result.imported);
  } finally {
    bar.stop();
    reader?.close();
    await tier.close();
  }
  emit(options, result, () => {
    const per = Object.entries(result.models)
      .map(([m, n]) => `${m} ${n}`)
      .join(', ');
    const lines = [
      `imported ${result.imported} of ${result.records} records (${per || 'none'}) from ${result.file} into ${result.created ? 'new cache ' : ''}${result.path}`,
      `  skipped: ${result.skipped.expired} expired`,
    ];
    if (result.failed > 0)
      lines.push(`  FAILED: ${result.failed} records could not be written (see the warning above)`);
    return lines;
  });
  return result.failed > 0 ? EXIT_PROBLEM : EXIT_OK;
}
