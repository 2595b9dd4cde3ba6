/**
 * bench:peers' console tables and results file: keys/s per (peer, case), embedcache ÷ peer as the
 * median of per-round ratios, bytes per entry, the worker-thread table; then
 * bench/results/peers.json for bench:report.
 */
import { machineInfo, machineLine } from '../lib/machine.js';
import { fmtOps, fmtRatio, medianRatio, outPath, printTable, writeResults } from '../lib/results.js';
import type { PeerCaseRow, PeerMemoryRow, PeerRow, PeerThreadRow } from '../peers.js';
import { PEER_LABELS } from './peers.mjs';

export const CASES = ['get hit', 'get hit, fresh text', 'set (overwrite)', 'set (new key, full)'] as const;
export type CaseName = (typeof CASES)[number];

export function report(
  caseRows: PeerCaseRow[],
  memRows: PeerMemoryRow[],
  threadRows: PeerThreadRow[],
  config: Record<string, unknown> & { skipped: Record<string, string> },
  notes: string[],
  out: string | undefined,
): void {
  const row = (peer: string, name: string) => caseRows.find((r) => r.peer === peer && r.case === name);
  const rate = (peer: string, name: string) => row(peer, name)?.keysPerSec ?? Number.NaN;
  const ratio = (peer: string, name: string) =>
    medianRatio(
      row('embedcache', name)?.rounds,
      row(peer, name)?.rounds,
      rate('embedcache', name) / rate(peer, name),
    );
  const peers = [...new Set(caseRows.map((r) => r.peer))];
  console.log(`\n${machineLine(machineInfo())}`);
  printTable(
    'keys/s, 1 thread (median of rounds)',
    ['peer', ...CASES],
    peers.map((p) => [PEER_LABELS[p], ...CASES.map((c) => fmtOps(rate(p, c)))]),
  );
  const bpe = (peer: string) => memRows.find((r) => r.peer === peer)?.bytesPerEntry ?? Number.NaN;
  printTable(
    "embedcache ÷ peer, median over rounds of each round's ratio (ops/s: > 1 means embedcache is faster; bytes/entry: < 1 means embedcache is smaller)",
    ['peer', 'get hit', 'get fresh', 'set', 'set new+evict', 'bytes/entry', 'peer B/entry', 'measured as'],
    peers
      .filter((p) => p !== 'embedcache')
      .map((p) => [
        PEER_LABELS[p],
        ...CASES.map((c) => fmtRatio(ratio(p, c))),
        fmtRatio(bpe('embedcache') / bpe(p)),
        String(Math.round(bpe(p))),
        memRows.find((r) => r.peer === p)?.measuredAs ?? '',
      ]),
  );
  const ecMem = memRows.find((r) => r.peer === 'embedcache');
  console.log(
    `embedcache bytes/entry: ${Math.round(bpe('embedcache'))} (${ecMem?.measuredAs ?? ''}); stats().memoryBytes / entries: ${Math.round(ecMem?.reportedPerEntry ?? Number.NaN)}`,
  );
  if (threadRows.length > 0) {
    const tr = (peer: string, t: number, op: string) =>
      threadRows.find((r) => r.peer === peer && r.threads === t && r.op === op)?.keysPerSec ?? Number.NaN;
    const counts = [...new Set(threadRows.map((r) => r.threads))];
    const maxT = Math.max(...counts);
    printTable(
      `worker threads (keys/s, median of rounds): 1 and ${maxT} threads`,
      [
        'design',
        'get ×1',
        `get ×${maxT}`,
        'get scaling',
        'set ×1',
        `set ×${maxT}`,
        `embedcache ÷ it, get ×${maxT}`,
      ],
      [...new Set(threadRows.map((r) => r.peer))].map((p) => [
        threadRows.find((r) => r.peer === p)!.label,
        fmtOps(tr(p, 1, 'get')),
        fmtOps(tr(p, maxT, 'get')),
        fmtRatio(tr(p, maxT, 'get') / tr(p, 1, 'get')),
        fmtOps(tr(p, 1, 'set')),
        fmtOps(tr(p, maxT, 'set')),
        p === 'embedcache' ? '' : fmtRatio(tr('embedcache', maxT, 'get') / tr(p, maxT, 'get')),
      ]),
    );
  }
  for (const [what, why] of Object.entries(config.skipped)) console.log(`skipped ${what}: ${why}`);
  const rows: PeerRow[] = [
    ...caseRows.map((r) => ({ table: 'case' as const, ...r })),
    ...memRows.map((r) => ({ table: 'memory' as const, ...r })),
    ...threadRows.map((r) => ({ table: 'threads' as const, ...r })),
  ];
  const path = writeResults('peers', outPath('peers', out, config.quick === true), config, rows, notes);
  console.log(`\nwrote ${path}`);
}
