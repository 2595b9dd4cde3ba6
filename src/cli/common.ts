/**
 * What every command of the `embedcache` CLI shares: exit codes, the one error type a command
 * throws (CliError, one line, no stack), output in text or --json, and the progress bar.
 *
 * Exit codes:
 *   0  ok
 *   1  a problem was found (verify: corrupt records or missing index entries; export/import:
 *      records skipped as corrupt or not written), or an unexpected failure
 *   2  usage error (unknown command or option, missing argument, bad value)
 *   3  the path is not a cache or an export file, or cannot be opened, read or written
 *      (includes a cache of another format version, key hash or key seed, and a cache in use)
 */
import { createHash } from 'node:crypto';
import cliProgress from 'cli-progress';

export const EXIT_OK = 0;
export const EXIT_PROBLEM = 1;
export const EXIT_USAGE = 2;
export const EXIT_CANNOT_OPEN = 3;

export type ExitCode = typeof EXIT_OK | typeof EXIT_PROBLEM | typeof EXIT_USAGE | typeof EXIT_CANNOT_OPEN;

/** A failure the CLI reports as one line (and in --json as {error}), exiting with `exitCode`. */
export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    /** A stable code for --json consumers: NOT_A_CACHE, NOT_AN_EXPORT, INCOMPATIBLE, IN_USE, IO, USAGE. */
    readonly code: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export function notACache(path: string, why: string): CliError {
  return new CliError(EXIT_CANNOT_OPEN, `${path} is not an embedcache cache folder: ${why}`, 'NOT_A_CACHE');
}

export function usageError(message: string): CliError {
  return new CliError(EXIT_USAGE, message, 'USAGE');
}

/** An error from the file system, as one line naming the path. */
export function ioError(what: string, path: string, err: unknown): CliError {
  return new CliError(EXIT_CANNOT_OPEN, `cannot ${what} ${path}: ${errorText(err)}`, 'IO');
}

export function errorText(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0]!.trim();
}

/** Options every command takes. */
export interface CommonOptions {
  json?: boolean;
}

/** Writes a command's result: JSON (one document) on stdout with --json, else the text lines. */
export function emit(options: CommonOptions, result: unknown, text: () => string[]): void {
  if (options.json === true) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  else process.stdout.write(`${text().join('\n')}\n`);
}

/** A line on stderr for a person (never in --json mode). */
export function note(options: CommonOptions, line: string): void {
  if (options.json !== true) process.stderr.write(`${line}\n`);
}

// ---------------------------------------------------------------------------------------------
// Formatting.

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/**
 * A short, non-secret name of a key seed: the first 8 hex digits of its SHA-256, as in the
 * library's ERR_SPILL_FORMAT messages (remote/tier.ts fingerprint), so the two can be compared.
 */
export function fingerprint(seed: Uint8Array): string {
  return createHash('sha256').update(seed).digest('hex').slice(0, 8);
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

export function formatTime(ms: number): string {
  return ms === 0 ? 'never' : new Date(ms).toISOString();
}

/** Left-aligned first column, right-aligned others: a plain text table. */
export function table(header: string[], rows: string[][]): string[] {
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  return all.map((r) =>
    r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  '),
  );
}

// ---------------------------------------------------------------------------------------------
// Progress.

export interface Progress {
  /** Sets the count done so far (drawn at most 10 times a second). */
  update(done: number): void;
  /** Raises the total (an estimate made at the start). */
  setTotal(total: number): void;
  stop(): void;
}

const NO_PROGRESS: Progress = { update() {}, setTotal() {}, stop() {} };

/** A progress bar on stderr when it is a terminal and the output is not --json; else nothing. */
export function progress(options: CommonOptions, label: string, total: number): Progress {
  if (options.json === true || process.stderr.isTTY !== true) return NO_PROGRESS;
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: `${label} [{bar}] {percentage}% | {value}/{total} | {duration_formatted}`,
      hideCursor: true,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(Math.max(total, 1), 0);
  return {
    update: (done) => bar.update(done),
    setTotal: (t) => bar.setTotal(Math.max(t, 1)),
    stop: () => bar.stop(),
  };
}
