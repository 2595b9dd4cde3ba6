/**
 * npm run bench — every suite in turn at modest sizes, then the report.
 *
 *   npm run bench                       # ops, memory, scale (to 100k), concurrency, peers; then report
 *   npm run bench -- --quick            # smaller sizes everywhere (a smoke run)
 *   npm run bench -- --only ops,peers   # a subset
 *
 * Each suite runs as its own Node process (under tsx), one after another, so one suite's heap,
 * JIT state and worker threads never colour the next one's figures. The full-size runs are
 * separate commands (see the README's Performance section): `bench:scale -- --max 1000000`,
 * `bench:concurrency -- --threads 16`.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { boolFlag, parseFlags, strFlag } from './lib/args.js';
import { buildProblem } from './lib/build.js';

const SUITES = ['ops', 'memory', 'scale', 'concurrency', 'peers'] as const;
type Suite = (typeof SUITES)[number];

const flags = parseFlags({
  quick: { type: 'boolean' },
  only: { type: 'string' },
  'no-report': { type: 'boolean' },
  help: { type: 'boolean' },
});
if (boolFlag(flags, 'help')) {
  console.log(`npm run bench -- [--quick] [--only ${SUITES.join(',')}] [--no-report]`);
  process.exit(0);
}
const only = strFlag(flags, 'only')?.split(',') ?? [...SUITES];
for (const s of only) {
  if (!(SUITES as readonly string[]).includes(s)) {
    console.error(`--only: unknown suite ${s}; suites: ${SUITES.join(', ')}`);
    process.exit(2);
  }
}
const problem = buildProblem();
if (problem !== undefined && (only.includes('concurrency') || only.includes('peers'))) {
  console.error(
    `${problem}\n(npm run bench builds first; when running this file directly, build it yourself.)`,
  );
  process.exit(2);
}

const extra = boolFlag(flags, 'quick') ? ['--quick'] : [];
const here = (f: string) => fileURLToPath(new URL(f, import.meta.url));
const failed: string[] = [];
const started = Date.now();
for (const suite of only as Suite[]) {
  console.log(`\n━━━ bench:${suite} ━━━`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', here(`./${suite}.ts`), ...extra], {
    stdio: 'inherit',
  });
  if (r.status !== 0) failed.push(`${suite} (exit ${r.status ?? r.signal})`);
}
if (!boolFlag(flags, 'no-report')) {
  console.log('\n━━━ bench:report ━━━');
  const r = spawnSync(process.execPath, ['--import', 'tsx', here('./tools/report.ts')], { stdio: 'inherit' });
  if (r.status !== 0) failed.push('report');
}
console.log(
  `\nbench: ${only.length} suites in ${((Date.now() - started) / 1000).toFixed(0)} s${failed.length ? `; FAILED: ${failed.join(', ')}` : ''}`,
);
process.exit(failed.length ? 1 : 0);
