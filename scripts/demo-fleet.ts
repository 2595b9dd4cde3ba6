/**
 * `npm run demo:fleet`: three machines share one Redis through embedcache's remote tier.
 *
 * Starts a throw-away redis-server (a free 127.0.0.1 port, a temp folder, no persistence), then
 * three "machines" — child processes, each with its own memory — that ingest overlapping corpora
 * at the same time through getOrCompute with one cache prefix. A stand-in model (a fixed wait
 * per call, vectors computed from the text) reports every text it is given, so the demo can
 * count what the fleet embedded. Then machine A calls invalidateModel(), and the demo shows the
 * other machines dropping their copies. Everything it started is stopped before it exits.
 *
 * Machines are bench/fleet/machine.ts (the same processes bench:fleet runs), loading the built
 * library in dist/. The demo runs `npm run build` first when dist/ is missing or older than src/
 * (and only then: a build takes longer than the demo).
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { startRedis } from '../test/support/redis.js';
import { buildProblem } from '../bench/lib/build.js';
import { prng } from '../bench/lib/texts.js';
import { closeMachines, type Machine, startMachines } from '../bench/fleet/machines.js';
import type { MachineParams } from '../bench/fleet/protocol.js';

const { values: args } = parseArgs({
  options: {
    texts: { type: 'string', default: '120' },
    'embed-ms': { type: 'string', default: '25' },
  },
});

function intArg(name: string, raw: string | undefined, min: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    console.error(`--${name} must be an integer >= ${min}, got ${raw}`);
    process.exit(2);
  }
  return n;
}

const UNIQUE = intArg('texts', args.texts, 6);
const EMBED_MS = intArg('embed-ms', args['embed-ms'], 0);
const MODEL = 'demo-model';
const PREFIX = 'demo-fleet';
const DIMS = 384;
const BATCH = 16;
const SEED = 0xde70;

/**
 * Three overlapping corpora over [0, UNIQUE): A takes the first two thirds, B the last two
 * thirds, C the first and last thirds, so every text is wanted by exactly two machines. Each
 * asks in its own shuffled order, so the machines meet on the same texts while embedding.
 */
function corpora(): { name: string; corpus: number[] }[] {
  const third = Math.floor(UNIQUE / 3);
  const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);
  const shuffle = (xs: number[], seed: number) => {
    const rand = prng(seed);
    for (let i = xs.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [xs[i], xs[j]] = [xs[j]!, xs[i]!];
    }
    return xs;
  };
  return [
    { name: 'A', corpus: shuffle(range(0, UNIQUE - third), 1) },
    { name: 'B', corpus: shuffle(range(third, UNIQUE), 2) },
    { name: 'C', corpus: shuffle([...range(0, third), ...range(UNIQUE - third, UNIQUE)], 3) },
  ];
}

const fmt = (n: number) => n.toLocaleString('en-US');
const ms = (x: number) => `${x < 10 ? x.toFixed(1) : Math.round(x)} ms`;

/** Builds dist/ if it is missing or older than src/ (the machines load it). */
function ensureBuilt(): void {
  const problem = buildProblem();
  if (problem === undefined) return;
  console.log(`${problem.split(':')[0]}: building it first (npm run build)…`);
  const r = spawnSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' });
  if (r.status !== 0 || buildProblem() !== undefined) {
    console.error('npm run build failed; fix the build and run the demo again.');
    process.exit(1);
  }
}

async function main(): Promise<void> {
  ensureBuilt();
  const started = performance.now();
  const version = /v=(\S+)/.exec(
    spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout ?? '',
  )?.[1];
  const redis = await startRedis();
  let machines: Machine[] = [];
  try {
    const plan = corpora();
    const params: MachineParams[] = plan.map(({ name, corpus }) => ({
      name,
      url: redis.url,
      prefix: PREFIX,
      model: MODEL,
      dims: DIMS,
      corpus,
      corpusSeed: SEED,
      embedMs: EMBED_MS,
      batchSize: BATCH,
      chunk: 2 * BATCH,
      inflight: 1,
      spillDir: null,
    }));
    console.log(
      'embedcache fleet demo: 3 machines (separate processes, each its own memory) share one Redis.',
    );
    console.log(
      `  redis-server ${version ?? ''} on 127.0.0.1:${redis.port} (temp folder ${redis.dir}), cache prefix "${PREFIX}"`,
    );
    console.log(
      `  corpus: ${UNIQUE} unique texts; each machine asks for ${fmt(plan[0]!.corpus.length)} of them, so every text is wanted by two machines.`,
    );
    machines = await startMachines(params);

    // ── 1. ingest, all at once ───────────────────────────────────────────────────────────
    console.log(
      `\nIngest, all three at once through getOrCompute (stand-in model: ${EMBED_MS} ms per call of ≤ ${BATCH} texts):`,
    );
    const reports = await Promise.all(machines.map((m) => m.call('ingest')));
    let asked = 0;
    const embedded: number[] = [];
    for (const r of reports) {
      asked += r.requested;
      embedded.push(...r.embeddedIdx);
      const hits = r.remote?.hits ?? 0;
      const waits = r.remote?.leaseWaits ?? 0;
      const errors = r.remote?.errors ?? 0;
      console.log(
        `  machine ${r.name}  asked for ${fmt(r.requested)} texts · embedded ${fmt(r.embeddedIdx.length)} · ` +
          `found ${fmt(hits)} in Redis${waits > 0 ? ` (waited on another machine's lease for ${fmt(waits)})` : ''} · ${ms(r.ms)}` +
          (errors > 0
            ? ` · ${fmt(errors)} Redis calls failed or timed out (that machine embedded on its own)`
            : ''),
      );
    }
    const distinct = new Set(embedded).size;
    const twice = embedded.length - distinct;
    const wrong = reports.reduce((s, r) => s + r.wrong, 0);
    console.log(
      `  fleet      asked for ${fmt(asked)} texts, ${fmt(UNIQUE)} unique · embedded ${fmt(embedded.length)} → ` +
        (twice === 0 && distinct === UNIQUE
          ? 'each text embedded once'
          : `${fmt(twice)} extra: ${twice === 1 ? 'a text was' : 'texts were'} embedded twice` +
            (distinct < UNIQUE ? `, ${fmt(UNIQUE - distinct)} never` : '')) +
        ` (without a shared Redis: ${fmt(asked)})${wrong > 0 ? ` · ${wrong} WRONG VECTORS` : ''}`,
    );

    // ── 2. invalidateModel on A reaches B and C ──────────────────────────────────────────
    const [a, b, c] = machines as [Machine, Machine, Machine];
    console.log(`\ninvalidateModel('${MODEL}') on machine A (a new model version, say):`);
    const localBefore = await Promise.all([b.call('local'), c.call('local')]);
    const watching = [b.call('watch', 3000), c.call('watch', 3000)];
    await new Promise((r) => setTimeout(r, 100)); // both are polling their memory by now
    const { at } = await a.call('invalidate');
    const [wb, wc] = await Promise.all(watching);
    const reached = (name: string, before: number, w: { droppedAt: number; after: number }) =>
      w.after === 0
        ? `machine ${name} dropped its ${fmt(before)} local vectors ${ms(Math.max(0, w.droppedAt - at))} later`
        : `machine ${name} still holds ${fmt(w.after)} of ${fmt(before)} after 3 s`;
    console.log(
      `  ${reached('B', localBefore[0], wb!)}, ${reached('C', localBefore[1], wc!)} (pub/sub on ${PREFIX}:bump).`,
    );
    const [fb, fc] = await Promise.all([b.call('fetch'), c.call('fetch')]);
    console.log(
      `  machines B and C now find ${fmt(fb.found)} of ${fmt(fb.requested)} and ${fmt(fc.found)} of ${fmt(fc.requested)} of their texts in Redis: ` +
        'the old vectors are unreachable fleet-wide (a background sweep deletes them).',
    );
    const again = await b.call('ingest');
    console.log(
      `  machine B ingests again: embedded ${fmt(again.embeddedIdx.length)} of ${fmt(again.requested)} (the new version is computed once, then shared).`,
    );
  } finally {
    await closeMachines(machines);
    await redis.stop();
  }
  console.log(
    `\nStopped the machines and redis-server; removed the temp folder. (${((performance.now() - started) / 1000).toFixed(1)} s)`,
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
