/**
 * Reading an export file (format: export-format.ts): the header at open, then each record
 * checked as it is read, then the trailer's record count and SHA-256. Synchronous reads in
 * 1 MiB chunks; a record is a view into the chunk, valid until the next one is read.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { createHash, type Hash } from 'node:crypto';
import { CONTENT_KEY_BYTES, type KeyHashName } from '../spill/format.js';
import { CliError, errorText, ioError } from './common.js';
import {
  CHUNK_BYTES,
  EXPORT_MAGIC,
  EXPORT_VERSION,
  FIXED_HEADER_BYTES,
  KEY_HASH_CODES,
  MAX_BODY_BYTES,
  RECORD_FIXED_BYTES,
  SEED_BYTES,
  notAnExport,
  type ExportHeader,
  type ExportMeta,
  type ExportRecord,
} from './export-format.js';

/** Reads an export file front to back: header on open, then records(), which checks the trailer last. */
export class ExportReader {
  private buf = Buffer.allocUnsafe(CHUNK_BYTES);
  private start = 0;
  private end = 0;
  private eof = false;
  private readonly hash: Hash = createHash('sha256');
  readonly header: ExportHeader;
  /** Bytes of header and records consumed so far (for progress). */
  consumed = 0;

  private constructor(
    private readonly fd: number,
    readonly path: string,
  ) {
    this.header = this.readHeader();
  }

  static open(path: string): ExportReader {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (err) {
      throw ioError('open', path, err);
    }
    try {
      return new ExportReader(fd, path);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  close(): void {
    closeSync(this.fd);
  }

  /** Makes `n` bytes available at this.start, or returns false at the end of the file. */
  private fill(n: number): boolean {
    while (this.end - this.start < n) {
      if (this.eof) return false;
      if (this.start > 0) {
        this.buf.copy(this.buf, 0, this.start, this.end);
        this.end -= this.start;
        this.start = 0;
      }
      if (n > this.buf.length) {
        const bigger = Buffer.allocUnsafe(Math.max(n, 2 * this.buf.length));
        this.buf.copy(bigger, 0, 0, this.end);
        this.buf = bigger;
      }
      let got: number;
      try {
        got = readSync(this.fd, this.buf, this.end, this.buf.length - this.end, null);
      } catch (err) {
        throw ioError('read', this.path, err);
      }
      if (got === 0) this.eof = true;
      this.end += got;
    }
    return true;
  }

  /** The next `n` bytes (a view valid until the next take), hashed unless `hashed` is false. */
  private take(n: number, what: string, hashed = true): Buffer {
    if (!this.fill(n)) throw notAnExport(this.path, `it ends inside ${what} (truncated?)`);
    const out = this.buf.subarray(this.start, this.start + n);
    this.start += n;
    this.consumed += n;
    if (hashed) this.hash.update(out);
    return out;
  }

  private readHeader(): ExportHeader {
    if (!this.fill(FIXED_HEADER_BYTES) || !this.buf.subarray(0, 8).equals(EXPORT_MAGIC))
      throw notAnExport(this.path, 'it does not start with the export magic bytes');
    const fixed = this.take(FIXED_HEADER_BYTES, 'the header');
    const version = fixed.readUInt16LE(8);
    if (version !== EXPORT_VERSION)
      throw notAnExport(
        this.path,
        `it has export version ${version}; this embedcache reads ${EXPORT_VERSION}`,
      );
    const code = fixed.readUInt8(10);
    const keyHash = (Object.keys(KEY_HASH_CODES) as KeyHashName[]).find((k) => KEY_HASH_CODES[k] === code);
    if (keyHash === undefined) throw notAnExport(this.path, `unknown key hash code ${code}`);
    const seedBytes = fixed.readUInt8(11);
    if (seedBytes !== SEED_BYTES)
      throw notAnExport(this.path, `its key seed is ${seedBytes} bytes, not ${SEED_BYTES}`);
    const metaBytes = fixed.readUInt32LE(12);
    if (metaBytes > MAX_BODY_BYTES) throw notAnExport(this.path, `its meta block claims ${metaBytes} bytes`);
    const seed = new Uint8Array(this.take(seedBytes, 'the key seed'));
    let meta: ExportMeta;
    try {
      const parsed = JSON.parse(
        new TextDecoder('utf-8', { fatal: true }).decode(this.take(metaBytes, 'the meta block')),
      );
      meta = { fleet: parseFleet(parsed?.fleet) };
    } catch (err) {
      if (err instanceof CliError) throw err;
      throw notAnExport(this.path, `its meta block is not valid (${errorText(err)})`);
    }
    return { keyHash, seed, meta };
  }

  /**
   * The records, each checked as it is read; after the last, the trailer's count and SHA-256.
   * Throws CliError (exit 3) for anything malformed, possibly after yielding earlier records:
   * a caller that must not act on a damaged file reads it through once first.
   */
  *records(): Generator<ExportRecord> {
    const decoder = new TextDecoder('utf-8', { fatal: true });
    let count = 0n;
    for (;;) {
      const lengthBytes = this.take(4, `record ${count + 1n}`);
      const body = lengthBytes.readUInt32LE(0);
      if (body === 0) break;
      if (body < RECORD_FIXED_BYTES || body > MAX_BODY_BYTES)
        throw notAnExport(this.path, `record ${count + 1n} claims ${body} bytes`);
      const rec = this.take(body, `record ${count + 1n}`);
      const nameBytes = rec.readUInt16LE(0);
      const vectorBytes = body - RECORD_FIXED_BYTES - nameBytes;
      let at = 2 + nameBytes;
      const bad = (why: string): CliError => notAnExport(this.path, `record ${count + 1n} ${why}`);
      if (vectorBytes < 0) throw bad(`has a ${nameBytes}-byte model name in a ${body}-byte body`);
      let model: string;
      try {
        model = decoder.decode(rec.subarray(2, at));
      } catch {
        throw bad('has a model name that is not UTF-8');
      }
      const key = rec.subarray(at, at + CONTENT_KEY_BYTES);
      at += CONTENT_KEY_BYTES;
      const createdMs = rec.readDoubleLE(at);
      const expiresMs = rec.readDoubleLE(at + 8);
      const dims = rec.readUInt32LE(at + 16);
      at += 20;
      if (dims === 0 || vectorBytes !== 4 * dims)
        throw bad(`has ${dims} dims and ${vectorBytes} vector bytes`);
      if (!Number.isFinite(createdMs) || !Number.isFinite(expiresMs) || expiresMs < 0)
        throw bad('has an invalid created or expiry time');
      count++;
      yield { model, key, createdMs, expiresMs, dims, vector: rec.subarray(at, at + vectorBytes) };
    }
    const stated = this.take(8, 'the trailer').readBigUInt64LE(0);
    if (stated !== count)
      throw notAnExport(this.path, `its trailer counts ${stated} records, it holds ${count}`);
    const digest = this.hash.digest();
    const expected = this.take(32, 'the trailer', false);
    if (!digest.equals(expected)) throw notAnExport(this.path, 'its SHA-256 does not match (damaged?)');
    if (this.fill(1)) throw notAnExport(this.path, 'bytes follow its trailer');
  }
}

function parseFleet(value: unknown): ExportMeta['fleet'] {
  const fleet: ExportMeta['fleet'] = {};
  if (value === undefined) return fleet;
  if (typeof value !== 'object' || value === null) throw new Error('"fleet" is not an object');
  for (const [prefix, marks] of Object.entries(value as Record<string, unknown>)) {
    const m = marks as { epoch?: unknown; gens?: unknown } | null;
    if (typeof m?.epoch !== 'number' || typeof m.gens !== 'object' || m.gens === null)
      throw new Error(`fleet prefix "${prefix}" has no epoch or gens`);
    const gens: Record<string, number> = {};
    for (const [model, g] of Object.entries(m.gens)) {
      if (typeof g !== 'number') throw new Error(`fleet generation of "${model}" is not a number`);
      gens[model] = g;
    }
    fleet[prefix] = { epoch: m.epoch, gens };
  }
  return fleet;
}
