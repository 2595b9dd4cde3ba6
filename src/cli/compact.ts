/**
 * `embedcache compact <dir>`: rewrites data.mdb without its free pages. LMDB reuses freed pages
 * but never shrinks its file; after many deletes, invalidations or evictions, compaction gives
 * the space back.
 *
 * How: LMDB's own compacting copy (lmdb-js `backup(path, true)`, mdb_env_copy2 with
 * MDB_CP_COMPACT) of a read snapshot into a temporary folder inside the cache folder (same file
 * system); the copy is opened and checked (a cache file with the same number of records); then
 * it replaces data.mdb with one rename, which is atomic: at every moment data.mdb is either the
 * old file or the whole new one. lock.mdb stays; LMDB resets it at the next open.
 *
 * Every process must close the folder first: one that kept it open would go on using the old,
 * replaced file and its later writes would be lost. compact refuses (exit 3) while LMDB's
 * reader table shows another live process; a process that has the folder open but never read
 * from it does not show there, so stop the caches that use it before compacting.
 */
import { closeSync, fsyncSync, mkdtempSync, openSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { liveBytes, openCacheDir } from './cache-dir.js';
import {
  CliError,
  emit,
  errorText,
  EXIT_CANNOT_OPEN,
  EXIT_OK,
  formatBytes,
  ioError,
  type CommonOptions,
  type ExitCode,
} from './common.js';

export interface CompactResult {
  path: string;
  /** Size of data.mdb before and after. */
  bytesBefore: number;
  bytesAfter: number;
  /** Records in the file (unchanged by compaction). */
  entries: number;
}

/** Process ids in LMDB's reader table (readerList() text) other than this one. */
export function otherReaders(list: string): number[] {
  const pids = new Set<number>();
  for (const line of list.split('\n')) {
    const m = /^\s*(\d+)\s+[0-9a-f]+\s+/i.exec(line);
    if (m !== null && Number(m[1]) !== process.pid) pids.add(Number(m[1]));
  }
  return Array.from(pids);
}

function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export async function compactCommand(path: string, options: CommonOptions): Promise<ExitCode> {
  const dir = openCacheDir(path);
  let temp: string | undefined;
  let result: CompactResult;
  try {
    const bytesBefore = statSync(dir.dataFile).size;
    const entries = liveBytes(dir).entries;
    dir.root.readerCheck(); // clears the slots of processes that died
    const others = otherReaders(dir.root.readerList());
    if (others.length > 0) {
      throw new CliError(
        EXIT_CANNOT_OPEN,
        `${dir.path} is in use by process ${others.join(', ')}: close every cache that uses it, then compact`,
        'IN_USE',
      );
    }
    try {
      temp = mkdtempSync(join(dir.path, '.compact-'));
      await dir.root.backup(temp, true);
    } catch (err) {
      throw ioError('write a compacted copy of', dir.dataFile, err);
    }
    await dir.close();

    const copyFile = join(temp, 'data.mdb');
    const copy = openCacheDir(temp);
    const copied = liveBytes(copy).entries;
    await copy.close();
    if (copied !== entries) {
      throw new CliError(
        EXIT_CANNOT_OPEN,
        `the compacted copy of ${dir.dataFile} holds ${copied} records, not ${entries}: left the original in place`,
        'IO',
      );
    }
    try {
      fsyncPath(copyFile);
      renameSync(copyFile, dir.dataFile);
      fsyncPath(dir.path);
    } catch (err) {
      throw ioError('replace', dir.dataFile, err);
    }
    result = { path: dir.path, bytesBefore, bytesAfter: statSync(dir.dataFile).size, entries };
  } finally {
    await dir.close();
    if (temp !== undefined) {
      try {
        rmSync(temp, { recursive: true, force: true });
      } catch (err) {
        process.stderr.write(`embedcache: could not remove ${temp}: ${errorText(err)}\n`);
      }
    }
  }
  emit(options, result, () => [
    `compacted ${result.path}: data.mdb ${result.bytesBefore} → ${result.bytesAfter} bytes (${formatBytes(result.bytesBefore)} → ${formatBytes(result.bytesAfter)}), ${result.entries} records`,
  ]);
  return EXIT_OK;
}
