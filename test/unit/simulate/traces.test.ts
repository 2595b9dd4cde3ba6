/** Trace formats, default sizes, --policies and the table (no trace files needed). */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { columns, formatRow, header, parsePolicies } from '../../../scripts/simulate/table.js';
import {
  defaultSizes,
  listTraces,
  parseTrace,
  PUBLISHED,
  readTrace,
} from '../../../scripts/simulate/traces.js';

describe('simulate: traces', () => {
  const dir = mkdtempSync(join(tmpdir(), 'simulate-traces-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('.lis: "start count x y" expands to start … start+count-1', () => {
    const raw = Buffer.from('1 1 0 0\n10 3 0 0\n\n2 2 0 0\n');
    expect([...parseTrace('OLTP.lis', raw)]).toEqual([1, 10, 11, 12, 2, 3]);
  });

  it('.trace: one key per line; blank lines and * lines skipped', () => {
    const raw = Buffer.from('5\n*\n 7 \n\r\n*comment\n-3\n');
    expect([...parseTrace('gli.trace', raw)]).toEqual([5, 7, -3]);
  });

  it('web07/web12: 4-byte big-endian signed integers', () => {
    const raw = Buffer.alloc(12);
    raw.writeInt32BE(1, 0);
    raw.writeInt32BE(-2, 4);
    raw.writeInt32BE(0x12345678, 8);
    expect([...parseTrace('web12.trace', raw)]).toEqual([1, -2, 0x12345678]);
  });

  it('lists trace files only, filtered by prefix; reads them by name', () => {
    writeFileSync(join(dir, 'b.trace'), '1\n2\n');
    writeFileSync(join(dir, 'a.lis'), '4 2 0 0\n');
    writeFileSync(join(dir, 'README.md'), '#');
    expect(listTraces(dir)).toEqual(['a.lis', 'b.trace']);
    expect(listTraces(dir, ['b', 'zz'])).toEqual(['b.trace']);
    expect([...readTrace(join(dir, 'a.lis'))]).toEqual([4, 5]);
  });

  it('sizes: the published ones where there are, else 5/10/25/50 % of the unique keys (at least 16)', () => {
    expect(defaultSizes('OLTP.lis', new Int32Array(0))).toEqual(PUBLISHED['OLTP.lis']!.sizes);
    const trace = Int32Array.from({ length: 1000 }, (_, i) => i % 400);
    expect(defaultSizes('x.trace', trace)).toEqual([20, 40, 100, 200]);
    expect(defaultSizes('y.trace', Int32Array.from([1, 2, 3]))).toEqual([16, 16, 16, 16]);
  });
});

describe('simulate: --policies and the table', () => {
  it('parses policy lists in the table order; all by default; unknown names throw', () => {
    expect(parsePolicies(undefined)).toEqual(['embedcache', 'lru', 'arc', 'opt']);
    expect(parsePolicies('opt, LRU')).toEqual(['lru', 'opt']);
    expect(parsePolicies('belady,arc')).toEqual(['arc', 'opt']);
    expect(() => parsePolicies('lru,fifo')).toThrow(/unknown policy "fifo"/);
  });

  it('prints one aligned Markdown table, with embedcache − ARC when both ran', () => {
    const cols = columns(['embedcache', 'lru', 'arc', 'opt']);
    const row = formatRow(cols, {
      trace: 'OLTP.lis',
      size: 1000,
      accesses: 914145,
      ratios: { embedcache: 0.3407, lru: 0.3283, arc: 0.3895, opt: 0.5362 },
    });
    const lines = [...header(cols).split('\n'), row];
    expect(lines[0]).toMatch(
      /^\| trace +\| +size \| +accesses \| embedcache % \| LRU % \| ARC % \| OPT % \| embedcache − ARC pp \|$/,
    );
    expect(row).toMatch(/\| +34\.07 \| 32\.83 \| 38\.95 \| 53\.62 \| +-4\.88 \|$/);
    expect(new Set(lines.map((l) => l.length)).size).toBe(1);
    expect(columns(['lru', 'opt']).map((c) => c.title)).toEqual([
      'trace',
      'size',
      'accesses',
      'LRU %',
      'OPT %',
    ]);
  });
});
