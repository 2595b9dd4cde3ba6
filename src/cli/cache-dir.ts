/**
 * Opens a cache folder for the CLI: read-only, without SpillTier, so that looking at a file
 * never changes it (SpillTier.open creates a missing folder, writes a format record into a new
 * file and starts maintenance, which deletes). Uses the spill tier's own byte formats
 * (spill/format.ts), model catalog reader (spill/models.ts) and data-file check
 * (spill/preflight.ts), and the same LMDB settings as spill/tier.ts.
 *
 * A path that is not a cache is refused with one line (CliError, exit 3) before LMDB maps
 * anything it should not: a missing path, a file, a folder without data.mdb, an empty or
 * non-LMDB data.mdb (lmdb-js crashes the process on those, see preflight.ts), an LMDB
 * environment with databases that are not embedcache's, or one without a readable format record.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { open as openLmdb, type Database, type RootDatabase } from 'lmdb';
import {
  ALL_DBS,
  DB_AGE,
  DB_EXPIRY,
  DB_META,
  DB_RECORDS,
  FORMAT_VERSION,
  META_FLEET_PREFIX,
  META_FORMAT_KEY,
  decodeFleetMarks,
  decodeFormatMeta,
  type FleetMarks,
  type FormatMeta,
} from '../spill/format.js';
import { storedModels } from '../spill/models.js';
import { liveBytes as spillLiveBytes } from '../spill/maintenance.js';
import { checkDataFile } from '../spill/preflight.js';
import { errorText, notACache } from './common.js';

type Bin = Database<Uint8Array, Uint8Array>;

/** One model of the file's catalog. */
export interface ModelEntry {
  name: string;
  id: number;
  /** Disk generation: records under another one are unreachable, waiting for the sweep. */
  generation: number;
  /** 0 = not fixed (no record written since the model was created or invalidated). */
  dims: number;
}

export interface CacheDir {
  /** Absolute path of the folder. */
  readonly path: string;
  readonly dataFile: string;
  readonly format: FormatMeta;
  readonly root: RootDatabase<Uint8Array, Uint8Array>;
  readonly meta: Database<Uint8Array, string>;
  readonly records: Bin;
  readonly age: Bin;
  readonly expiry: Bin;
  /** The catalog, sorted by name. */
  readonly models: ModelEntry[];
  readonly modelsById: Map<number, ModelEntry>;
  /** Fleet generations recorded per remote prefix (spill/format.ts FleetMarks), sorted by prefix. */
  readonly fleet: { prefix: string; marks: FleetMarks }[];
  /** Closes the environment (once; later calls return the same promise). */
  close(): Promise<void>;
}

/** Why `dir` holds no cache data file, or undefined when it has one (the path of data.mdb is join(dir, 'data.mdb')). */
function dataFileProblem(dir: string): string | undefined {
  let st;
  try {
    st = statSync(dir);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or folder' : errorText(err);
  }
  if (!st.isDirectory()) return 'it is a file, not a folder (pass the folder that holds data.mdb)';
  const file = join(dir, 'data.mdb');
  let size: number;
  try {
    const f = statSync(file);
    if (!f.isFile()) return 'its data.mdb is not a regular file';
    size = f.size;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return errorText(err);
    let entries: string[] = [];
    try {
      entries = readdirSync(dir);
    } catch {
      // reported as "no data.mdb" all the same
    }
    return entries.length === 0 ? 'the folder is empty' : 'it holds no data.mdb';
  }
  if (size === 0) return 'its data.mdb is empty';
  const bad = checkDataFile(file);
  return bad === undefined ? undefined : `its data.mdb is not an LMDB file: ${bad}`;
}

/**
 * The state of a folder an import writes into: 'absent' (created by the import), 'empty' (an
 * existing empty folder), or 'cache' (an existing cache, opened read-only by openCacheDir).
 * Throws CliError for anything else.
 */
export function targetState(dir: string): 'absent' | 'empty' | 'cache' {
  const path = resolve(dir);
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw notACache(path, errorText(err));
  }
  if (!st.isDirectory()) throw notACache(path, 'it is a file, not a folder');
  const entries = readdirSync(path);
  if (entries.length === 0) return 'empty';
  if (!entries.includes('data.mdb'))
    throw notACache(path, 'it is not empty and holds no data.mdb (import into a new or empty folder)');
  return 'cache';
}

/** Opens the cache at `dir` read-only, or throws CliError (exit 3) naming why it is not one. */
export function openCacheDir(dir: string): CacheDir {
  const path = resolve(dir);
  const problem = dataFileProblem(path);
  if (problem !== undefined) throw notACache(path, problem);
  let root: RootDatabase<Uint8Array, Uint8Array>;
  try {
    root = openLmdb<Uint8Array, Uint8Array>({
      path,
      noSubdir: false,
      readOnly: true,
      maxDbs: 8,
      keyEncoding: 'binary',
      encoding: 'binary',
      eventTurnBatching: false,
      overlappingSync: false,
    });
  } catch (err) {
    throw notACache(path, `LMDB cannot open it (${errorText(err)})`);
  }
  try {
    return describe(root, path);
  } catch (err) {
    void root.close().catch(() => undefined);
    throw err;
  }
}

function describe(root: RootDatabase<Uint8Array, Uint8Array>, path: string): CacheDir {
  const names: string[] = [];
  for (const name of root.getKeys({ limit: 16 })) {
    const text = Buffer.from(name).toString('latin1').replace(/\0$/, '');
    if (!ALL_DBS.includes(text))
      throw notACache(path, `it is an LMDB environment that embedcache did not write (it holds "${text}")`);
    names.push(text);
  }
  for (const name of ALL_DBS)
    if (!names.includes(name))
      throw notACache(path, `it is an LMDB environment without the "${name}" database`);
  // Read-only: openDB of a database that exists never writes.
  const meta = root.openDB<Uint8Array, string>({
    name: DB_META,
    encoding: 'binary',
    keyEncoding: 'ordered-binary',
  });
  const bin = (name: string, useVersions = false): Bin =>
    root.openDB<Uint8Array, Uint8Array>({ name, encoding: 'binary', keyEncoding: 'binary', useVersions });
  const records = bin(DB_RECORDS, true);
  const age = bin(DB_AGE);
  const expiry = bin(DB_EXPIRY);

  const formatBytes = meta.getBinary(META_FORMAT_KEY);
  if (formatBytes === undefined) throw notACache(path, 'it has no format record');
  const decoded = decodeFormatMeta(formatBytes);
  if (decoded.kind === 'version') {
    throw notACache(
      path,
      `it has format version ${decoded.formatVersion} and this embedcache reads format version ${FORMAT_VERSION}`,
    );
  }
  if (decoded.kind === 'invalid') throw notACache(path, decoded.reason);

  const models: ModelEntry[] = Array.from(storedModels(meta), ([name, m]) => ({
    name,
    id: m.id,
    generation: m.generation,
    dims: m.dims,
  })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const fleet: CacheDir['fleet'] = [];
  for (const { key, value } of meta.getRange({ start: META_FLEET_PREFIX, end: 'fleet0' })) {
    const marks = decodeFleetMarks(value);
    if (marks !== undefined) fleet.push({ prefix: key.slice(META_FLEET_PREFIX.length), marks });
  }
  let closed: Promise<void> | undefined;
  return {
    path,
    dataFile: join(path, 'data.mdb'),
    format: decoded.meta,
    root,
    meta,
    records,
    age,
    expiry,
    models,
    modelsById: new Map(models.map((m) => [m.id, m])),
    fleet,
    close: () => (closed ??= root.close()),
  };
}

/** Live data bytes (pages of the three record databases × page size) and entries, as SpillTier.stats() counts them. */
export function liveBytes(dir: CacheDir): { entries: number; bytes: number; pageSize: number } {
  return spillLiveBytes(dir);
}
