/**
 * bench:fleet — a fleet of machines sharing embedcache's Redis tier, and Redis-backed peers.
 *
 *   npm run bench:fleet -- --machines 4
 *   flags: --machines 4  --unique 10k  --per-machine 5k  --dims 768  --embed-ms 20  --batch 64
 *          --chunk 256  --inflight 2  --spill  --peer-entries 10k  --peer-batch 1000  --rounds 5
 *          --sample 256  --peers (peers section only)  --fleet-only  --quick  --out PATH
 *
 * Starts its own redis-server (free loopback port, temp folder, no persistence; the
 * test/support/redis.ts launcher), then:
 *
 * Fleet. N child processes ("machines": each its own memory, no spill unless --spill) each ask
 * getOrCompute for --per-machine texts drawn from --unique (overlapping by chance), through a
 * stand-in model that waits --embed-ms per call of at most --batch texts and reports every text
 * it was given. Phases, each with new processes:
 *   alone  no remote tier: every machine embeds its whole corpus (what a fleet pays without one)
 *   cold   remote tier, Redis empty
 *   warm   remote tier, Redis as cold left it (new processes: memory is empty)
 * Printed: fleet-wide texts/s (texts asked for ÷ wall time from the first machine's start to the
 * last one's end), texts embedded fleet-wide against unique texts asked for (the goal: equal over
 * cold + warm, i.e. each text embedded once), and stats().remote summed over the machines. Every
 * vector handed back is checked against the model (the "wrong" column must read 0).
 *
 * Peers (bench/fleet/peers.ts). Batch-read throughput and bytes per entry in the same Redis for
 * embedcache, LangChain's CacheBackedEmbeddings over RedisByteStore, and a RedisVL-style HASH
 * layout; ratios against LangChain.
 *
 * Results: bench/results/fleet.json (--quick: fleet.quick.tmp.json, ignored by git). Figures are
 * indicative: machines, Redis and this process share the host's cores.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createClient } from 'redis';
import { startRedis, type RedisServer } from '../test/support/redis.js';
import { boolFlag, intFlag, parseFlags, strFlag } from './lib/args.js';
import { BUILT_ENTRY, requireBuild } from './lib/build.js';
import { machineInfo, machineLine } from './lib/machine.js';
import { fmtBytes, fmtInt, fmtOps, fmtRatio, printTable, RESULTS_DIR, writeResults } from './lib/results.js';
import { closeMachines, type Machine, startMachines } from './fleet/machines.js';
import { CORPUS_SEED, FLEET_MODEL, machineCorpus, unionSize } from './fleet/model.js';
import { type PeerConfig, type PeerRow, runPeers } from './fleet/peers.js';
import {
  addCounts,
  type IngestReport,
  type MachineParams,
  type RemoteCounts,
  zeroCounts,
} from './fleet/protocol.js';

type Lib = typeof import('../src/index.js');
type Phase = 'alone' | 'cold' | 'warm';

const PHASE_LABEL: Record<Phase, string> = {
  alone: 'alone (no remote tier)',
  cold: 'cold (Redis empty)',
  warm: 'warm (new processes)',
};

export interface FleetPhaseRow {
  phase: Phase;
  machines: number;
  /** Texts asked for, all machines. */
  requested: number;
  /** Distinct texts asked for, all machines. */
  uniqueRequested: number;
  wallMs: number;
  textsPerSec: number;
  embedCalls: number;
  textsEmbedded: number;
  /** Distinct texts embedded; textsEmbedded − this = texts embedded more than once. */
  distinctEmbedded: number;
  /** stats().compute.embedded summed over the machines: the caches' own count (should equal textsEmbedded). */
  computeEmbedded: number;
  wrong: number;
  remote: RemoteCounts | null;
  perMachine: {
    name: string;
    ms: number;
    requested: number;
    embedCalls: number;
    /** ms inside the model (summed over calls). */
    modelMs: number;
    textsEmbedded: number;
    localHits: number;
    remote: RemoteCounts | null;
    state: string;
  }[];
}

export type FleetRow = ({ table: 'fleet' } & FleetPhaseRow) | ({ table: 'peers' } & PeerRow);

interface FleetConfig {
  machines: number;
  unique: number;
  perMachine: number;
  dims: number;
  embedMs: number;
  batch: number;
  chunk: number;
  inflight: number;
  spill: boolean;
}

function redisVersion(): string {
  const r = spawnSync('redis-server', ['--version'], { encoding: 'utf8' });
  return /v=(\S+)/.exec(r.stdout ?? '')?.[1] ?? 'unknown';
}

async function runPhase(
  phase: Phase,
  cfg: FleetConfig,
  corpora: number[][],
  redis: RedisServer,
  prefix: string,
): Promise<FleetPhaseRow> {
  const spillRoot = cfg.spill ? mkdtempSync(join(tmpdir(), 'embedcache-fleet-spill-')) : null;
  const params: MachineParams[] = corpora.map((corpus, m) => ({
    name: `m${m + 1}`,
    url: phase === 'alone' ? null : redis.url,
    prefix,
    model: FLEET_MODEL,
    dims: cfg.dims,
    corpus,
    corpusSeed: CORPUS_SEED,
    embedMs: cfg.embedMs,
    batchSize: cfg.batch,
    chunk: cfg.chunk,
    inflight: cfg.inflight,
    spillDir: spillRoot === null ? null : join(spillRoot, `m${m + 1}`),
  }));
  let machines: Machine[] = [];
  try {
    machines = await startMachines(params);
    const reports: IngestReport[] = await Promise.all(machines.map((m) => m.call('ingest')));
    const start = Math.min(...reports.map((r) => r.startedAt));
    const end = Math.max(...reports.map((r) => r.endedAt));
    const wallMs = end - start;
    const requested = reports.reduce((s, r) => s + r.requested, 0);
    const embedded = reports.flatMap((r) => r.embeddedIdx);
    const remote = phase === 'alone' ? null : reports.reduce((s, r) => addCounts(s, r.remote), zeroCounts());
    return {
      phase,
      machines: machines.length,
      requested,
      uniqueRequested: unionSize(corpora),
      wallMs,
      textsPerSec: requested / (wallMs / 1000),
      embedCalls: reports.reduce((s, r) => s + r.embedCalls, 0),
      textsEmbedded: embedded.length,
      distinctEmbedded: new Set(embedded).size,
      computeEmbedded: reports.reduce((s, r) => s + r.computeEmbedded, 0),
      wrong: reports.reduce((s, r) => s + r.wrong, 0),
      remote,
      perMachine: reports.map((r) => ({
        name: r.name,
        ms: r.ms,
        requested: r.requested,
        embedCalls: r.embedCalls,
        modelMs: r.embedMs,
        textsEmbedded: r.embeddedIdx.length,
        localHits: r.localHits,
        remote: r.remote ?? null,
        state: r.state,
      })),
    };
  } finally {
    await closeMachines(machines);
    if (spillRoot !== null) rmSync(spillRoot, { recursive: true, force: true });
  }
}

const yes = (ok: boolean): string => (ok ? 'yes' : 'NO');

function printFleet(cfg: FleetConfig, rows: FleetPhaseRow[]): void {
  printTable(
    `Fleet ingest, fleet-wide (${cfg.machines} machines; texts/s = texts asked for ÷ wall time, first start to last end)`,
    [
      'phase',
      'wall',
      'texts/s',
      'embed calls',
      'texts embedded',
      'unique asked',
      'embedded ÷ unique',
      'wrong',
    ],
    rows.map((r) => [
      PHASE_LABEL[r.phase],
      `${(r.wallMs / 1000).toFixed(2)} s`,
      fmtOps(r.textsPerSec),
      fmtInt(r.embedCalls),
      fmtInt(r.textsEmbedded),
      fmtInt(r.uniqueRequested),
      r.textsEmbedded / r.uniqueRequested >= 0.1 || r.textsEmbedded === 0
        ? `${(r.textsEmbedded / r.uniqueRequested).toFixed(2)}×`
        : fmtRatio(r.textsEmbedded / r.uniqueRequested),
      fmtInt(r.wrong),
    ]),
  );
  const remoteRows = rows.filter((r) => r.remote !== null);
  if (remoteRows.length > 0) {
    printTable(
      'stats().remote summed over the machines (per phase)',
      ['phase', 'hits', 'misses', 'writes', 'errors', 'lease waits', 'invalid'],
      remoteRows.map((r) => [
        PHASE_LABEL[r.phase],
        fmtInt(r.remote!.hits),
        fmtInt(r.remote!.misses),
        fmtInt(r.remote!.writes),
        fmtInt(r.remote!.errors),
        fmtInt(r.remote!.leaseWaits),
        fmtInt(r.remote!.invalid),
      ]),
    );
    printTable(
      'Per machine (ms: from its first getOrCompute call to its last; in model: time inside embed, summed)',
      [
        'machine',
        'asked',
        'cold: embedded',
        'remote hits',
        'lease waits',
        'in model ms',
        'total ms',
        'warm: remote hits',
        'total ms',
      ],
      (remoteRows[0]?.perMachine ?? []).map((m, i) => {
        const w = remoteRows[1]?.perMachine[i];
        return [
          m.name,
          fmtInt(m.requested),
          fmtInt(m.textsEmbedded),
          fmtInt(m.remote?.hits ?? 0),
          fmtInt(m.remote?.leaseWaits ?? 0),
          fmtInt(m.modelMs),
          fmtInt(m.ms),
          w ? fmtInt(w.remote?.hits ?? 0) : '–',
          w ? fmtInt(w.ms) : '–',
        ];
      }),
    );
  }
  const cold = rows.find((r) => r.phase === 'cold');
  const warm = rows.find((r) => r.phase === 'warm');
  const alone = rows.find((r) => r.phase === 'alone');
  if (cold !== undefined) {
    const total = cold.textsEmbedded + (warm?.textsEmbedded ?? 0);
    console.log(
      `\nEach text embedded once? cold + warm: ${fmtInt(total)} texts embedded fleet-wide for ${fmtInt(cold.uniqueRequested)} unique texts asked for ` +
        `(${fmtInt(cold.textsEmbedded - cold.distinctEmbedded)} duplicates in cold, ${fmtInt(warm?.textsEmbedded ?? 0)} in warm): ${yes(total === cold.uniqueRequested && cold.distinctEmbedded === cold.uniqueRequested)}` +
        (alone !== undefined ? `; without the remote tier: ${fmtInt(alone.textsEmbedded)}.` : '.'),
    );
    const counted = rows.every((r) => r.computeEmbedded === r.textsEmbedded);
    console.log(
      `stats().compute.embedded summed over the machines agrees with the model's own count in every phase: ${yes(counted)}` +
        (counted
          ? '.'
          : ` (${rows.map((r) => `${r.phase} ${r.computeEmbedded} vs ${r.textsEmbedded}`).join(', ')}).`),
    );
    const wrong = rows.reduce((s, r) => s + r.wrong, 0);
    console.log(`Every vector handed back was its text's own: ${yes(wrong === 0)} (${fmtInt(wrong)} wrong).`);
    if (cold.remote !== null && cold.remote.errors + (warm?.remote?.errors ?? 0) > 0)
      console.log(
        `Redis errors: cold ${cold.remote.errors}, warm ${warm?.remote?.errors ?? 0} (calls past remote.timeoutMs or refused by the breaker; ` +
          'a failed read or lease costs at most a duplicate embedding, never a wrong vector).',
      );
  }
}

function printPeers(rows: PeerRow[], cfg: PeerConfig): void {
  const lc = rows.find((r) => r.system === 'langchain');
  printTable(
    `Batch reads from Redis: ${cfg.dims}-d, ${fmtInt(cfg.batch)}-key batches over ${fmtInt(cfg.entries)} entries per system (median of ${cfg.rounds} rounds)`,
    ['system', 'keys/s', 'vs LangChain', 'bytes/entry', 'vs LangChain', 'used_memory Δ/entry'],
    rows.map((r) => [
      r.label,
      fmtOps(r.keysPerSec),
      lc ? fmtRatio(r.keysPerSec / lc.keysPerSec) : '–',
      fmtBytes(r.bytesPerEntry),
      lc ? fmtRatio(r.bytesPerEntry / lc.bytesPerEntry) : '–',
      fmtBytes(r.usedMemoryPerEntry),
    ]),
  );
  const ec = rows.find((r) => r.system === 'embedcache');
  const lived = rows.find((r) => r.system === 'embedcache-lived');
  if (ec !== undefined && lc !== undefined) {
    const speed = ec.keysPerSec / lc.keysPerSec;
    const bytes = ec.bytesPerEntry / lc.bytesPerEntry;
    const usedBytes = ec.usedMemoryPerEntry / lc.usedMemoryPerEntry;
    const livedSpeed = lived !== undefined ? lived.keysPerSec / lc.keysPerSec : Number.NaN;
    console.log(
      `\nTargets, embedcache fetchMany vs LangChain: keys/s ≥ 5×: new cache ${fmtRatio(speed)} ${yes(speed >= 5)}, ` +
        `long-lived cache ${fmtRatio(livedSpeed)} ${yes(livedSpeed >= 5)}; ` +
        `bytes/entry ≤ 0.3×: ${bytes.toFixed(3)}× ${yes(bytes <= 0.3)} (used_memory Δ: ${usedBytes.toFixed(3)}× ${yes(usedBytes <= 0.3)}).`,
    );
  }
}

async function main(): Promise<void> {
  const flags = parseFlags({
    machines: { type: 'string' },
    unique: { type: 'string' },
    'per-machine': { type: 'string' },
    dims: { type: 'string' },
    'embed-ms': { type: 'string' },
    batch: { type: 'string' },
    chunk: { type: 'string' },
    inflight: { type: 'string' },
    spill: { type: 'boolean' },
    'peer-entries': { type: 'string' },
    'peer-batch': { type: 'string' },
    rounds: { type: 'string' },
    sample: { type: 'string' },
    peers: { type: 'boolean' },
    'fleet-only': { type: 'boolean' },
    quick: { type: 'boolean' },
    out: { type: 'string' },
    help: { type: 'boolean' },
  });
  if (boolFlag(flags, 'help')) {
    console.log(
      'npm run bench:fleet -- [--machines 4] [--unique 10k] [--per-machine 5k] [--dims 768] [--embed-ms 20] [--batch 64] [--chunk 256] [--inflight 2] [--spill] ' +
        '[--peer-entries 10k] [--peer-batch 1000] [--rounds 5] [--sample 256] [--peers | --fleet-only] [--quick] [--out path]',
    );
    process.exit(0);
  }
  requireBuild(); // the machines load dist/
  const quick = boolFlag(flags, 'quick');
  const peersOnly = boolFlag(flags, 'peers');
  const fleetOnly = boolFlag(flags, 'fleet-only');
  if (peersOnly && fleetOnly) {
    console.error('--peers and --fleet-only exclude each other.');
    process.exit(2);
  }
  const unique = intFlag(flags, 'unique', quick ? 1000 : 10_000, 1);
  const cfg: FleetConfig = {
    machines: intFlag(flags, 'machines', quick ? 3 : 4, 1, 64),
    unique,
    perMachine: intFlag(flags, 'per-machine', Math.round(unique / 2), 1, unique),
    dims: intFlag(flags, 'dims', 768, 1, 65_536),
    embedMs: intFlag(flags, 'embed-ms', 20, 0, 60_000),
    batch: intFlag(flags, 'batch', 64, 1),
    chunk: intFlag(flags, 'chunk', 256, 1),
    inflight: intFlag(flags, 'inflight', 2, 1, 64),
    spill: boolFlag(flags, 'spill'),
  };
  const peerCfg: Omit<PeerConfig, 'url'> = {
    entries: intFlag(flags, 'peer-entries', quick ? 2000 : 10_000, 1),
    batch: intFlag(flags, 'peer-batch', 1000, 1),
    dims: cfg.dims,
    rounds: intFlag(flags, 'rounds', quick ? 2 : 5, 1, 100),
    sample: intFlag(flags, 'sample', quick ? 64 : 256, 1),
  };
  const out = resolve(
    strFlag(flags, 'out') ?? join(RESULTS_DIR, quick ? 'fleet.quick.tmp.json' : 'fleet.json'),
  );

  const version = redisVersion();
  const redis = await startRedis();
  const t0 = Date.now();
  const rows: FleetRow[] = [];
  const notes: string[] = [];
  try {
    console.log(`bench:fleet — ${machineLine(machineInfo())}`);
    console.log(`redis-server ${version} on 127.0.0.1:${redis.port} (temp folder, no persistence)`);
    if (!peersOnly) {
      const corpora = Array.from({ length: cfg.machines }, (_, m) =>
        machineCorpus(m, cfg.unique, cfg.perMachine),
      );
      const union = unionSize(corpora);
      console.log(
        `\nFleet: ${cfg.machines} machines (processes) × ${fmtInt(cfg.perMachine)} texts drawn from ${fmtInt(cfg.unique)} ` +
          `(${fmtInt(union)} distinct asked for), ${cfg.dims}-d; stand-in model ${cfg.embedMs} ms per call of ≤ ${cfg.batch} texts; ` +
          `getOrCompute calls of ${cfg.chunk} texts, ${cfg.inflight} in flight per machine; ${cfg.spill ? 'LMDB spill per machine' : 'no spill'}.`,
      );
      const admin = createClient({ url: redis.url });
      admin.on('error', () => {});
      await admin.connect();
      const prefix = 'fleet-bench';
      const phaseRows: FleetPhaseRow[] = [];
      try {
        for (const phase of ['alone', 'cold', 'warm'] as const) {
          if (phase === 'cold') await admin.sendCommand(['FLUSHALL']);
          process.stdout.write(`  ${phase}…`);
          const row = await runPhase(phase, cfg, corpora, redis, prefix);
          console.log(` ${(row.wallMs / 1000).toFixed(2)} s`);
          phaseRows.push(row);
          rows.push({ table: 'fleet', ...row });
        }
        await admin.sendCommand(['FLUSHALL']);
      } finally {
        await admin.close();
      }
      printFleet(cfg, phaseRows);
      notes.push(
        `Fleet: ${cfg.machines} processes × ${cfg.perMachine} texts of ${cfg.unique} (${union} distinct asked for), stand-in model waits ${cfg.embedMs} ms per call (no CPU), batchSize ${cfg.batch}, ${cfg.chunk}-text getOrCompute calls, ${cfg.inflight} in flight per machine. Machines, redis-server and the parent share ${machineInfo().cores} cores.`,
        'texts/s = texts asked for by all machines ÷ (last machine end − first machine start); process start-up and cache open are outside it.',
        'stats().remote counts a hit or a miss per key read: the first read, the re-read after a lease and every poll while waiting on another machine count, so misses exceed texts asked for. errors: calls past remote.timeoutMs (500 ms default) or refused by the open breaker.',
      );
    }
    if (!fleetOnly) {
      console.log('');
      const lib = (await import(BUILT_ENTRY)) as Lib;
      const full: PeerConfig = { url: redis.url, ...peerCfg };
      const res = await runPeers(full, lib, (s) => console.log(s));
      printPeers(res.rows, full);
      for (const r of res.rows) rows.push({ table: 'peers', ...r });
      notes.push(...res.notes);
    }
  } finally {
    await redis.stop();
  }
  writeResults('fleet', out, { ...cfg, peers: peerCfg, quick, redis: version }, rows, notes);
  console.log(`\nSaved ${out} (${((Date.now() - t0) / 1000).toFixed(1)} s).`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
