/**
 * What the parent (bench/fleet.ts, scripts/demo-fleet.ts) and a machine process
 * (bench/fleet/machine.ts) say to each other over the IPC channel.
 *
 *   parent → machine   { type: 'init', params }                once, right after fork
 *   machine → parent   { type: 'ready', pid }                  cache open, corpus built
 *   parent → machine   { type: 'call', id, cmd, arg? }         a command (below)
 *   machine → parent   { type: 'reply', id, ok, value | error }
 *
 * A machine exits after 'close', or by itself when the parent goes away (IPC disconnect).
 */
import type { CacheStats, RemoteStats } from '../../src/index.js';

export interface MachineParams {
  /** A label for output ('A', 'm1'). */
  name: string;
  /** redis://… of the remote tier; null: no remote tier (each machine alone). */
  url: string | null;
  prefix: string;
  model: string;
  dims: number;
  /** Text indexes this machine asks for, in order (see model.ts machineCorpus). */
  corpus: number[];
  corpusSeed: number;
  /** The stand-in model's cost per call (ms). */
  embedMs: number;
  /** getOrCompute batchSize: most texts per embed call. */
  batchSize: number;
  /** Texts per getOrCompute call. */
  chunk: number;
  /** getOrCompute calls in flight at once. */
  inflight: number;
  /** An LMDB spill folder of this machine's own, or null for none. */
  spillDir: string | null;
}

/** Counters of stats().remote that add up across machines (state left out). */
export type RemoteCounts = Omit<RemoteStats, 'state'>;

export interface IngestReport {
  name: string;
  /** Texts asked for (getOrCompute inputs). */
  requested: number;
  /** Calls of the embed function. */
  embedCalls: number;
  /** Time inside the embed function, summed over calls (they may overlap with inflight > 1). */
  embedMs: number;
  /** Texts the embed function was given, by corpus index (repeats kept). */
  embeddedIdx: number[];
  /** From the first getOrCompute call to the last one resolved. */
  ms: number;
  /** The same span as wall-clock times (wallNow), comparable across machines. */
  startedAt: number;
  endedAt: number;
  /** Vectors handed back that were not the text's own (must be 0). */
  wrong: number;
  /** stats().remote counters during this ingest (deltas); undefined without a remote tier. */
  remote: RemoteCounts | undefined;
  /** stats().compute.embedded during this ingest (the cache's own count of texts it embedded). */
  computeEmbedded: number;
  /** stats().hits / misses during this ingest (memory tier; deltas). */
  localHits: number;
  localMisses: number;
  state: RemoteStats['state'] | 'none';
}

export interface WatchReport {
  /** performance.timeOrigin + performance.now() when the local copy of the corpus was gone. */
  droppedAt: number;
  /** Local entries of the corpus before / after. */
  before: number;
  after: number;
}

export interface FetchReport {
  requested: number;
  found: number;
  ms: number;
}

export interface Commands {
  ingest: { arg: undefined; value: IngestReport };
  /** Starts watching the corpus's local entries; resolves once they are gone (or after arg ms). */
  watch: { arg: number; value: WatchReport };
  invalidate: { arg: undefined; value: { at: number } };
  /** Local entries of the corpus (has(), no counting). */
  local: { arg: undefined; value: number };
  fetch: { arg: undefined; value: FetchReport };
  stats: { arg: undefined; value: CacheStats };
  close: { arg: undefined; value: null };
}
export type Command = keyof Commands;

export type ToMachine =
  { type: 'init'; params: MachineParams } | { type: 'call'; id: number; cmd: Command; arg?: unknown };

export type FromMachine =
  | { type: 'ready'; pid: number }
  | { type: 'reply'; id: number; ok: true; value: unknown }
  | { type: 'reply'; id: number; ok: false; error: string };

/** A wall-clock timestamp in ms with sub-ms precision, comparable across processes. */
export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}

export const REMOTE_COUNTS = ['hits', 'misses', 'writes', 'errors', 'leaseWaits', 'invalid'] as const;

export function addCounts(a: RemoteCounts, b: RemoteCounts | undefined): RemoteCounts {
  if (b === undefined) return a;
  const out = { ...a };
  for (const k of REMOTE_COUNTS) out[k] += b[k];
  return out;
}

export function zeroCounts(): RemoteCounts {
  return { hits: 0, misses: 0, writes: 0, errors: 0, leaseWaits: 0, invalid: 0 };
}
