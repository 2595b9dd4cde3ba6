/**
 * Command-line flags for the suites, on node:util parseArgs. Each suite declares its flags as
 * strings and reads them through these checked converters, so `--threads abc` fails with a
 * message naming the flag instead of running a benchmark with NaN threads.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export type Flags = Record<string, string | boolean | undefined>;

export function parseFlags(
  options: NonNullable<ParseArgsConfig['options']>,
  argv = process.argv.slice(2),
): Flags {
  // `npm run x -- --flag` passes a bare `--` through on some npm versions: drop it.
  const args = argv.filter((a) => a !== '--');
  try {
    const { values } = parseArgs({ args, options, strict: true, allowPositionals: false });
    return values as Flags;
  } catch (err) {
    const known = Object.keys(options)
      .map((k) => `--${k}`)
      .join(' ');
    console.error(`${(err as Error).message}\nKnown flags: ${known}`);
    process.exit(2);
  }
}

/** Accepts 1000, 1e6, 10k, 1M, 1_000_000. */
export function parseCount(s: string): number {
  const m = /^(\d[\d_]*(?:\.\d+)?(?:e\d+)?)([kKmM]?)$/.exec(s.trim());
  if (!m) return Number.NaN;
  const base = Number(m[1]!.replaceAll('_', ''));
  const mult = m[2] === 'k' || m[2] === 'K' ? 1e3 : m[2] === 'm' || m[2] === 'M' ? 1e6 : 1;
  return Math.round(base * mult);
}

export function intFlag(
  flags: Flags,
  name: string,
  def: number,
  min = 1,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const raw = flags[name];
  if (raw === undefined) return def;
  const n = typeof raw === 'string' ? parseCount(raw) : Number.NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    console.error(
      `--${name} must be an integer from ${min} to ${max} (1000, 10k and 1M are accepted), got ${String(raw)}.`,
    );
    process.exit(2);
  }
  return n;
}

export function numFlag(flags: Flags, name: string, def: number, min: number, max: number): number {
  const raw = flags[name];
  if (raw === undefined) return def;
  const n = typeof raw === 'string' ? Number(raw) : Number.NaN;
  if (!Number.isFinite(n) || n < min || n > max) {
    console.error(`--${name} must be a number from ${min} to ${max}, got ${String(raw)}.`);
    process.exit(2);
  }
  return n;
}

export function listFlag(flags: Flags, name: string, def: number[]): number[] {
  const raw = flags[name];
  if (raw === undefined) return def;
  const xs = String(raw)
    .split(',')
    .map((s) => parseCount(s));
  if (xs.length === 0 || xs.some((x) => !Number.isInteger(x) || x < 1)) {
    console.error(
      `--${name} must be a comma-separated list of positive integers (e.g. 128,768), got ${String(raw)}.`,
    );
    process.exit(2);
  }
  return xs;
}

export function strFlag(flags: Flags, name: string): string | undefined {
  const raw = flags[name];
  return typeof raw === 'string' ? raw : undefined;
}

export function boolFlag(flags: Flags, name: string): boolean {
  return flags[name] === true;
}
