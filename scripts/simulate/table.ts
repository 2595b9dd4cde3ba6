/**
 * The simulator's one table: a Markdown pipe table whose columns are padded to fixed widths, so it
 * reads in a terminal, streams row by row, and pastes into the README as is.
 */
export const POLICY_IDS = ['embedcache', 'lru', 'arc', 'car', 'carslots', 'opt'] as const;
export type PolicyId = (typeof POLICY_IDS)[number];
/** The columns without --policies (CAR, the CLOCK-based ARC, and CAR/slots, its memory-tier layout, on request). */
export const DEFAULT_POLICIES: readonly PolicyId[] = ['embedcache', 'lru', 'arc', 'opt'];

export const POLICY_TITLES: Record<PolicyId, string> = {
  embedcache: 'embedcache %',
  lru: 'LRU %',
  arc: 'ARC %',
  car: 'CAR %',
  carslots: 'CAR/slots %',
  opt: 'OPT %',
};

/** Policy names for --policies: the ids above, plus `belady` for opt. Unknown names throw. */
const ALIASES: Record<string, PolicyId> = { belady: 'opt' };

export function parsePolicies(spec: string | undefined): PolicyId[] {
  if (spec === undefined || spec.trim() === '') return [...DEFAULT_POLICIES];
  const wanted = new Set<PolicyId>();
  for (const raw of spec.split(',')) {
    const name = raw.trim().toLowerCase();
    if (name === '') continue;
    const id = ALIASES[name] ?? POLICY_IDS.find((p) => p === name);
    if (id === undefined) throw new RangeError(`unknown policy "${raw}" (known: ${POLICY_IDS.join(', ')})`);
    wanted.add(id);
  }
  return POLICY_IDS.filter((id) => wanted.has(id));
}

export interface Row {
  trace: string;
  size: number;
  accesses: number;
  /** Hit ratios (0…1) of the policies that ran. */
  ratios: Partial<Record<PolicyId, number>>;
}

interface Column {
  title: string;
  align: 'left' | 'right';
  cell(r: Row): string;
}

const pct = (x: number | undefined): string => (x === undefined ? '' : (x * 100).toFixed(2));

export function columns(policies: readonly PolicyId[]): Column[] {
  const cols: Column[] = [
    { title: 'trace', align: 'left', cell: (r) => r.trace },
    { title: 'size', align: 'right', cell: (r) => String(r.size) },
    { title: 'accesses', align: 'right', cell: (r) => String(r.accesses) },
  ];
  for (const id of POLICY_IDS) {
    if (policies.includes(id))
      cols.push({ title: POLICY_TITLES[id], align: 'right', cell: (r) => pct(r.ratios[id]) });
  }
  if (policies.includes('embedcache') && policies.includes('arc')) {
    cols.push({
      title: 'embedcache − ARC pp',
      align: 'right',
      cell: (r) => {
        const d = (r.ratios.embedcache! - r.ratios.arc!) * 100;
        return (d >= 0 ? '+' : '') + d.toFixed(2);
      },
    });
  }
  return cols;
}

const WIDTHS: Record<string, number> = { trace: 14, size: 6, accesses: 9 };

function width(c: Column): number {
  return Math.max(c.title.length, WIDTHS[c.title] ?? 0);
}

function line(cells: string[]): string {
  return `| ${cells.join(' | ')} |`;
}

export function header(cols: Column[]): string {
  const titles = cols.map((c) =>
    c.align === 'left' ? c.title.padEnd(width(c)) : c.title.padStart(width(c)),
  );
  const rules = cols.map((c) => (c.align === 'left' ? '-'.repeat(width(c)) : '-'.repeat(width(c) - 1) + ':'));
  return `${line(titles)}\n${line(rules)}`;
}

export function formatRow(cols: Column[], r: Row): string {
  return line(
    cols.map((c) => (c.align === 'left' ? c.cell(r).padEnd(width(c)) : c.cell(r).padStart(width(c)))),
  );
}
