/**
 * Everything SpillTier.open does before LMDB sees the path: the options' checks, the folder,
 * and a look at the data file's meta pages; plus the two open-time error factories.
 *
 * Why apart, and why without LMDB: lmdb-js segfaults on a data.mdb that is not an LMDB file,
 * and a file shorter than its meta page claims raises SIGBUS on first access, so a damaged file
 * must be refused by plain reads before the environment is mapped. Nothing here imports lmdb.
 *
 * Open failures throw EmbeddingCacheError: ERR_SPILL_OPEN (cannot create or read the path; a
 * data file that is not LMDB) or ERR_SPILL_FORMAT (another format version, another key hash,
 * or an LMDB file that is not ours; raised by tier.ts once the file is open).
 */
import { closeSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import { join, resolve as resolvePath } from 'node:path';
import { EmbeddingCacheError } from '../errors.js';
import { DEFAULT_SPILL_MAX_BYTES } from '../options.js';
import type { SpillTierOptions } from './types.js';

/** Key seed length; matches key/hasher.ts SECRET_BYTES. */
const SEED_BYTES = 32;

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export function openError(path: string, why: string, cause?: unknown): EmbeddingCacheError {
  return new EmbeddingCacheError(
    'ERR_SPILL_OPEN',
    `Cannot open the spill tier at ${path}: ${why}. Pass a spill.path in a writable folder, or move the damaged folder away to start empty.`,
    cause === undefined ? undefined : { cause },
  );
}

export function formatError(path: string, why: string): EmbeddingCacheError {
  return new EmbeddingCacheError(
    'ERR_SPILL_FORMAT',
    `The spill file at ${path} cannot be used: ${why}. Open the cache with matching options, or use another spill.path (or delete that folder to start empty).`,
  );
}

/**
 * Checks `options`, creates the folder and checks its data file, without opening LMDB. Returns
 * the absolute path and the bound in force. Throws TypeError/RangeError for bad options and
 * ERR_SPILL_OPEN for a folder or data file that cannot be used.
 */
export function preflight(options: SpillTierOptions): { path: string; maxBytes: number } {
  if (typeof options !== 'object' || options === null)
    throw new TypeError('SpillTier.open(options): options must be an object.');
  if (typeof options.path !== 'string' || options.path.length === 0) {
    throw new TypeError('spill.path must be a non-empty string: the folder that holds the LMDB file.');
  }
  const maxBytes = options.maxBytes ?? DEFAULT_SPILL_MAX_BYTES;
  if (typeof maxBytes !== 'number' || !(maxBytes > 0)) {
    throw new RangeError(
      `spill.maxBytes must be a positive number of bytes, got ${String(options.maxBytes)}.`,
    );
  }
  if (options.keyHash !== 'xxhash' && options.keyHash !== 'sha256') {
    throw new TypeError(`keyHash must be 'xxhash' or 'sha256', got ${String(options.keyHash)}.`);
  }
  if (!(options.seed instanceof Uint8Array) || options.seed.length !== SEED_BYTES) {
    throw new TypeError(`The spill tier needs the cache's ${SEED_BYTES}-byte key seed as a Uint8Array.`);
  }
  const path = resolvePath(options.path);
  try {
    mkdirSync(path, { recursive: true });
  } catch (err) {
    throw openError(path, `cannot create the folder (${errorMessage(err)})`, err);
  }
  try {
    if (!statSync(path).isDirectory()) throw openError(path, 'it is not a folder');
  } catch (err) {
    if (err instanceof EmbeddingCacheError) throw err;
    throw openError(path, errorMessage(err), err);
  }
  const bad = checkDataFile(join(path, 'data.mdb'));
  if (bad !== undefined) throw openError(path, `its data.mdb is not a readable LMDB file: ${bad}`);
  return { path, maxBytes };
}

// ---------------------------------------------------------------------------------------------
// The data file is checked before LMDB maps it (see above). The offsets are those of the LMDB
// build that lmdb-js ships (64-bit: 24-byte page header, then MDB_meta); the tests reopen real
// files, so a layout change shows up there first. A file cut short by less than
// TRUNCATION_SLACK_PAGES, or damaged inside, still reaches LMDB.

const LMDB_MAGIC = 0xbeefc0de;
const META_MAGIC_AT = 0x18;
const META_PSIZE_AT = 0x30;
const META_LAST_PAGE_AT = 0x90;
const META_TXNID_AT = 0x98;
const TRUNCATION_SLACK_PAGES = 64;

/** Returns why `file` is not a usable LMDB data file, or undefined if it looks whole (or is absent/empty). */
export function checkDataFile(file: string): string | undefined {
  let size: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) return 'it is not a regular file';
    size = st.size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return errorMessage(err);
  }
  if (size === 0) return undefined;
  if (!process.arch.includes('64')) return undefined; // the offsets below are for 64-bit builds
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    return errorMessage(err);
  }
  try {
    const head = Buffer.alloc(0xa0);
    if (readSync(fd, head, 0, head.length, 0) < head.length) return `it is only ${size} bytes long`;
    if (head.readUInt32LE(META_MAGIC_AT) !== LMDB_MAGIC) return 'it does not start with an LMDB meta page';
    const psize = head.readUInt32LE(META_PSIZE_AT);
    if (psize < 512 || psize > 65536 || (psize & (psize - 1)) !== 0)
      return `its page size (${psize}) is not valid`;
    if (size < 2 * psize) return `it is shorter (${size} bytes) than its two meta pages`;
    const second = Buffer.alloc(0xa0);
    readSync(fd, second, 0, second.length, psize);
    if (second.readUInt32LE(META_MAGIC_AT) !== LMDB_MAGIC) return 'its second meta page is damaged';
    const newest =
      second.readBigUInt64LE(META_TXNID_AT) > head.readBigUInt64LE(META_TXNID_AT) ? second : head;
    // mm_last_pg is the highest page ever allocated; the top few may never have been written
    // (pages freed in the transaction that allocated them), so allow some slack.
    const lastPage = Number(newest.readBigUInt64LE(META_LAST_PAGE_AT));
    if ((lastPage + 1 - TRUNCATION_SLACK_PAGES) * psize > size) {
      return `it is truncated: ${size} bytes, but its meta page refers to page ${lastPage} of ${psize} bytes`;
    }
    return undefined;
  } catch (err) {
    return errorMessage(err);
  } finally {
    closeSync(fd);
  }
}
