#!/usr/bin/env node
/**
 * The `embedcache` command line: inspect, check, move and compact a cache's spill folder (the
 * `spill.path` of EmbeddingCache.open) without writing code. One module per command; this one
 * parses arguments (commander) and turns every outcome into an exit code and, for failures,
 * one line on stderr (never a stack trace; EMBEDCACHE_DEBUG=1 adds it).
 *
 *   embedcache stats   <dir>                       what the folder holds
 *   embedcache verify  <dir>                       check every record; exit 1 if any is corrupt
 *   embedcache export  <dir> --out <file>          write the live records to an export file
 *   embedcache import  <file> <dir>                load an export file into a (new) folder
 *   embedcache compact <dir>                       give the file's free pages back
 *
 * Exit codes: see common.ts (0 ok, 1 problem found, 2 usage error, 3 not a cache / cannot open).
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { EmbeddingCacheError } from '../errors.js';
import { compactCommand } from './compact.js';
import {
  CliError,
  errorText,
  EXIT_CANNOT_OPEN,
  EXIT_OK,
  EXIT_PROBLEM,
  EXIT_USAGE,
  type CommonOptions,
  type ExitCode,
} from './common.js';
import { exportCommand, type ExportOptions } from './export.js';
import { importCommand } from './import.js';
import { statsCommand } from './stats.js';
import { verifyCommand, type VerifyOptions } from './verify.js';

const EXIT_HELP = `
Exit codes:
  0  ok
  1  a problem was found (verify: corrupt records; export/import: records skipped or not written)
  2  usage error (unknown command or option, missing argument, unknown model)
  3  not a cache or export file, or it cannot be opened (other format, key hash or key seed; in use)

<dir> is a cache's spill folder (spill.path), the one that holds data.mdb.`;

/** The package version, from the package.json above this file (src/cli or dist/src/cli). */
function version(): string {
  for (const up of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(up, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'embedcache' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next level
    }
  }
  return 'unknown';
}

function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError('Not a non-negative integer.');
  return n;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function buildProgram(setExit: (code: ExitCode) => void): Command {
  const program = new Command();
  program
    .name('embedcache')
    .description(
      "Inspect, verify, export, import and compact an embedcache spill folder (a cache's spill.path).",
    )
    .version(version(), '-V, --version')
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .addHelpText('after', EXIT_HELP);
  const json = ['--json', 'machine-readable output on stdout (one JSON document)'] as const;
  const run =
    <A extends unknown[]>(fn: (...args: A) => Promise<ExitCode>) =>
    async (...args: A): Promise<void> =>
      setExit(await fn(...args));

  program
    .command('stats')
    .description(
      'entries, bytes, models (dims, generation, records), format, key hash, tombstones, file size',
    )
    .argument('<dir>', 'cache folder (spill.path)')
    .option(...json)
    .addHelpText('after', EXIT_HELP)
    .action(run((dir: string, o: CommonOptions) => statsCommand(dir, o)));

  program
    .command('verify')
    .description('scan every record and index entry; list corrupt records (exit 1 if any)')
    .argument('<dir>', 'cache folder (spill.path)')
    .option('--limit <n>', 'most corrupt records to list (all are counted)', nonNegativeInt, 1000)
    .option(...json)
    .addHelpText('after', EXIT_HELP)
    .action(run((dir: string, o: VerifyOptions) => verifyCommand(dir, o)));

  program
    .command('export')
    .description('write the live records to a versioned export file (it holds the key seed: keep it private)')
    .argument('<dir>', 'cache folder (spill.path)')
    .requiredOption('-o, --out <file>', 'export file to write (replaced if it exists)')
    .option('--model <name>', 'only this model (repeat for several)', collect, [] as string[])
    .option(...json)
    .addHelpText('after', EXIT_HELP)
    .action(run((dir: string, o: ExportOptions) => exportCommand(dir, o)));

  program
    .command('import')
    .description(
      'load an export file into a cache folder (created if missing or empty); skips expired records',
    )
    .argument('<file>', 'export file')
    .argument('<dir>', 'cache folder: new, empty, or a cache with the same key hash and key seed')
    .option(...json)
    .addHelpText('after', EXIT_HELP)
    .action(run((file: string, dir: string, o: CommonOptions) => importCommand(file, dir, o)));

  program
    .command('compact')
    .description('rewrite data.mdb without its free pages (close every cache using the folder first)')
    .argument('<dir>', 'cache folder (spill.path)')
    .option(...json)
    .addHelpText('after', EXIT_HELP)
    .action(run((dir: string, o: CommonOptions) => compactCommand(dir, o)));
  return program;
}

/** Runs the CLI on `argv` (process.argv form); resolves to the exit code. */
async function main(argv: string[]): Promise<ExitCode> {
  let code: ExitCode = EXIT_OK;
  const program = buildProgram((c) => (code = c));
  const json = argv.includes('--json');
  try {
    await program.parseAsync(argv);
    return code;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE; // commander printed it
    let failure: CliError;
    if (err instanceof CliError) failure = err;
    else if (err instanceof EmbeddingCacheError)
      failure = new CliError(EXIT_CANNOT_OPEN, err.message, err.code);
    else if (
      typeof (err as NodeJS.ErrnoException)?.code === 'string' &&
      (err as NodeJS.ErrnoException).syscall
    )
      failure = new CliError(EXIT_CANNOT_OPEN, errorText(err), 'IO');
    else failure = new CliError(EXIT_PROBLEM, `unexpected error: ${errorText(err)}`, 'INTERNAL');
    process.stderr.write(`embedcache: ${failure.message}\n`);
    if (process.env.EMBEDCACHE_DEBUG === '1' && err instanceof Error && err.stack !== undefined)
      process.stderr.write(`${err.stack}\n`);
    if (json) {
      const error = { code: failure.code, exitCode: failure.exitCode, message: failure.message };
      process.stdout.write(`${JSON.stringify({ error }, null, 2)}\n`);
    }
    return failure.exitCode;
  }
}

process.exitCode = await main(process.argv);
