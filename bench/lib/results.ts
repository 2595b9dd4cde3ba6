/**
 * Results files and console tables shared by every suite.
 *
 * Every suite writes one JSON document, `bench/results/<suite>.json` by default (`--out` moves
 * it: bench:check writes `*.tmp.json`, which git ignores). The document is self-describing:
 * suite name, schema version, date, machine, the exact configuration, the rows, and the notes
 * a reader needs (what was measured and how). bench/tools/report.ts and bench/tools/check.ts
 * read nothing else.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineInfo, type MachineInfo } from './machine.js';

export const RESULTS_SCHEMA = 1;
export const RESULTS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../results');

export type SuiteName = 'ops' | 'memory' | 'scale' | 'concurrency' | 'peers';
/** Suites that write a results file but are not part of bench:check's baseline. */
export type ResultsSuite = SuiteName | 'fleet';

export interface ResultsFile<Row> {
  suite: ResultsSuite;
  schema: number;
  date: string;
  machine: MachineInfo;
  config: Record<string, unknown>;
  rows: Row[];
  notes: string[];
}

export function defaultOut(suite: ResultsSuite): string {
  return resolve(RESULTS_DIR, `${suite}.json`);
}

/**
 * Where a suite writes: --out if given; a --quick (smoke) run goes to `<suite>.quick.tmp.json`
 * (ignored by git) so it never overwrites the figures the report is built from.
 */
export function outPath(suite: SuiteName, out: string | undefined, quick: boolean): string {
  if (out !== undefined) return resolve(out);
  return quick ? resolve(RESULTS_DIR, `${suite}.quick.tmp.json`) : defaultOut(suite);
}

export function writeResults<Row>(
  suite: ResultsSuite,
  out: string | undefined,
  config: Record<string, unknown>,
  rows: Row[],
  notes: string[] = [],
): string {
  const path = resolve(out ?? defaultOut(suite));
  const doc: ResultsFile<Row> = {
    suite,
    schema: RESULTS_SCHEMA,
    date: new Date().toISOString(),
    machine: machineInfo(),
    config,
    rows,
    notes,
  };
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(doc, null, 2)}\n`);
  return path;
}

export function readResults<Row>(path: string): ResultsFile<Row> {
  const doc = JSON.parse(readFileSync(path, 'utf8')) as ResultsFile<Row>;
  if (doc.schema !== RESULTS_SCHEMA || !Array.isArray(doc.rows)) {
    throw new Error(
      `${path}: not a results file of schema ${RESULTS_SCHEMA}. Re-run the suite that wrote it.`,
    );
  }
  return doc;
}

// ── Formatting ──────────────────────────────────────────────────────────────────────────────

/** 1234567 → "1.23M", 45678 → "45.7k". */
export function fmtOps(n: number): string {
  if (!Number.isFinite(n)) return '–';
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return n.toFixed(n >= 100 ? 0 : 1);
}

export function fmtBytes(n: number): string {
  if (!Number.isFinite(n)) return '–';
  const a = Math.abs(n);
  if (a >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  if (a >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  if (a >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${Math.round(n)} B`;
}

export function fmtNs(ns: number): string {
  if (!Number.isFinite(ns)) return '–';
  if (ns >= 1e9) return `${(ns / 1e9).toFixed(2)} s`;
  if (ns >= 1e6) return `${(ns / 1e6).toFixed(2)} ms`;
  if (ns >= 1e3) return `${(ns / 1e3).toFixed(2)} µs`;
  return `${Math.round(ns)} ns`;
}

/** 2.345 → "2.35×"; small ratios keep two significant digits (0.0044×) instead of reading 0.00×. */
export function fmtRatio(r: number): string {
  if (!Number.isFinite(r)) return '–';
  return r >= 0.1 ? `${r.toFixed(2)}×` : `${r.toPrecision(2)}×`;
}

export function fmtPct(p: number, digits = 1): string {
  return Number.isFinite(p) ? `${p >= 0 ? '+' : ''}${p.toFixed(digits)} %` : '–';
}

/** 1234567.8 → "1,234,568": a whole number with thousands separators. */
export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function fmtCount(n: number): string {
  if (n >= 1e6 && n % 1e6 === 0) return `${n / 1e6}M`;
  if (n >= 1e3 && n % 1e3 === 0) return `${n / 1e3}k`;
  return String(n);
}

/** Prints an aligned text table (numbers right-aligned). */
export function printTable(title: string, header: string[], rows: string[][]): void {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const numeric = header.map((_, c) =>
    rows.every((r) => /^[-+]?[\d.,]+\s?[a-zA-Zµ%×]*\s*[a-zA-Z]*$|^–$/.test(r[c] ?? '')),
  );
  const line = (cells: string[]) =>
    cells.map((cell, c) => (numeric[c] ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ');
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(widths.map((w) => '─'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
}

/** Median of some numbers (NaN for none). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * The median of a[i] ÷ b[i] over rounds: each round measured both sides moments apart, so a
 * shift of the machine's speed between rounds (this one is shared) cancels, which a ratio of the
 * two medians does not. `fallback` where the rounds are missing or do not pair up.
 */
export function medianRatio(
  a: readonly number[] | undefined,
  b: readonly number[] | undefined,
  fallback: number,
): number {
  if (a === undefined || b === undefined || a.length === 0 || a.length !== b.length) return fallback;
  return median(a.map((x, i) => x / b[i]!));
}
