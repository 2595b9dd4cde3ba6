/**
 * Naive reference models for the simulator's policies: plain arrays, written for obviousness
 * rather than speed (O(c) or worse per access), to compare the real ones against.
 */

/** LRU over an array, most recently used last. Returns the hit (true) / miss of each access. */
export function naiveLru(capacity: number, trace: readonly number[]): boolean[] {
  const a: number[] = [];
  return trace.map((k) => {
    const at = a.indexOf(k);
    if (at >= 0) {
      a.splice(at, 1);
      a.push(k);
      return true;
    }
    if (capacity <= 0) return false;
    if (a.length >= capacity) a.shift();
    a.push(k);
    return false;
  });
}

export interface NaiveArcStep {
  hit: boolean;
  t1: number[];
  t2: number[];
  b1: number[];
  b2: number[];
  p: number;
}

/**
 * ARC transcribed line by line from Fig. 4 of Megiddo & Modha (FAST'03), with arrays in LRU → MRU
 * order. Returns the hit and the four lists (copies) and p after each access.
 */
export function naiveArc(c: number, trace: readonly number[]): NaiveArcStep[] {
  let t1: number[] = [];
  let t2: number[] = [];
  let b1: number[] = [];
  let b2: number[] = [];
  let p = 0;
  const without = (a: number[], x: number): number[] => a.filter((y) => y !== x);
  const replace = (x: number): void => {
    if (t1.length >= 1 && ((b2.includes(x) && t1.length === p) || t1.length > p)) {
      b1.push(t1.shift()!);
    } else {
      b2.push(t2.shift()!);
    }
  };
  return trace.map((x) => {
    let hit = false;
    if (t1.includes(x) || t2.includes(x)) {
      hit = true;
      t1 = without(t1, x);
      t2 = [...without(t2, x), x];
    } else if (b1.includes(x)) {
      const d1 = b1.length >= b2.length ? 1 : b2.length / b1.length;
      p = Math.min(p + d1, c);
      replace(x);
      b1 = without(b1, x);
      t2.push(x);
    } else if (b2.includes(x)) {
      const d2 = b2.length >= b1.length ? 1 : b1.length / b2.length;
      p = Math.max(p - d2, 0);
      replace(x);
      b2 = without(b2, x);
      t2.push(x);
    } else {
      if (t1.length + b1.length === c) {
        if (t1.length < c) {
          b1.shift();
          replace(x);
        } else {
          t1.shift();
        }
      } else if (t1.length + t2.length + b1.length + b2.length >= c) {
        if (t1.length + t2.length + b1.length + b2.length === 2 * c) b2.shift();
        replace(x);
      }
      t1.push(x);
    }
    return { hit, t1: [...t1], t2: [...t2], b1: [...b1], b2: [...b2], p };
  });
}

/**
 * The most hits any policy holding at most `capacity` keys can get on `trace`, by exhaustive
 * search: on each miss, either leave the key out or admit it (evicting any one resident key if
 * full). Memoized on (position, resident set); for short traces over a few keys only.
 */
export function bruteForceOpt(capacity: number, trace: readonly number[]): number {
  const memo = new Map<string, number>();
  const best = (i: number, resident: number[]): number => {
    if (i === trace.length) return 0;
    const id = `${i}:${resident.join(',')}`;
    const known = memo.get(id);
    if (known !== undefined) return known;
    const k = trace[i]!;
    let r: number;
    if (resident.includes(k)) r = 1 + best(i + 1, resident);
    else {
      r = best(i + 1, resident); // bypass
      if (capacity > 0) {
        if (resident.length < capacity)
          r = Math.max(
            r,
            best(
              i + 1,
              [...resident, k].sort((a, b) => a - b),
            ),
          );
        else
          for (const out of resident) {
            const next = [...resident.filter((y) => y !== out), k].sort((a, b) => a - b);
            r = Math.max(r, best(i + 1, next));
          }
      }
    }
    memo.set(id, r);
    return r;
  };
  return best(0, []);
}
