/**
 * The hand-off ring (src/spill/handoff.ts) against a simple model: a FIFO of posted ops, of which
 * claims take the oldest and complete() removes them. Two ring instances over one buffer stand
 * for two threads; `now` is passed in, so the lease is exercised without waiting.
 */
import fc from 'fast-check';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { CLAIM_LEASE_MS, HandoffRing, seqDone, type HandoffClaim } from '../../../src/spill/handoff.js';
import { requireBuild } from '../../support/workers.js';

const RING_BYTES = 64 * 1024;

interface ModelOp {
  key: number;
  size: number;
  tombstone: boolean;
  tag: number;
}

function recKeyOf(key: number): Uint8Array {
  const k = new Uint8Array(24);
  new DataView(k.buffer).setUint32(0, key, true);
  k[23] = key & 0xff;
  return k;
}

function valueOf(op: ModelOp): Uint8Array {
  return Uint8Array.from({ length: op.size }, (_, i) => (op.key * 31 + i) & 0xff);
}

/** Bytes an entry takes in the ring (header and 8-alignment), as handoff.ts lays it out. */
const entryBytes = (size: number): number => (64 + size + 7) & ~7;

const action = fc.oneof(
  fc.record({
    kind: fc.constant('post' as const),
    who: fc.integer({ min: 0, max: 1 }),
    key: fc.integer({ min: 0, max: 1000 }),
    size: fc.integer({ min: 1, max: 9000 }),
    tombstone: fc.boolean(),
    tag: fc.integer({ min: -1, max: 50 }),
  }),
  fc.record({
    kind: fc.constant('claim' as const),
    who: fc.integer({ min: 0, max: 1 }),
    max: fc.integer({ min: 1, max: 6 }),
  }),
  fc.record({ kind: fc.constant('complete' as const), who: fc.integer({ min: 0, max: 1 }) }),
  fc.record({ kind: fc.constant('wait' as const), ms: fc.integer({ min: 1, max: 2 * CLAIM_LEASE_MS }) }),
);

describe('hand-off ring', () => {
  it('claims return the oldest posted ops, whole and in order; complete frees them; a stale claim is taken over', () => {
    fc.assert(
      fc.property(fc.array(action, { minLength: 1, maxLength: 300 }), (actions) => {
        const buffer = HandoffRing.create(RING_BYTES);
        const rings = [new HandoffRing(buffer, 1, 50), new HandoffRing(buffer, 2, 50)];
        /** Posted ops not yet done, oldest first, with the bytes each took (its pad included). */
        const fifo: { op: ModelOp; seq: number; writtenMs: number; bytes: number }[] = [];
        const claims: (HandoffClaim | null)[] = [null, null];
        let holder = -1; // who holds the claim
        let beat = 0; // when it was taken
        let now = 1_000_000;
        let head = 0;
        let used = 0;
        let posted = 0;
        for (const a of actions) {
          if (a.kind === 'wait') {
            now += a.ms;
          } else if (a.kind === 'post') {
            const op: ModelOp = { key: a.key, size: a.size, tombstone: a.tombstone, tag: a.tag };
            const need = entryBytes(op.size);
            const pad = head + need > RING_BYTES ? RING_BYTES - head : 0;
            const fits = used + pad + need <= RING_BYTES - 8;
            const writtenMs = now + posted / 8;
            const seq = rings[a.who]!.post(
              recKeyOf(op.key),
              valueOf(op),
              op.tombstone,
              writtenMs,
              now * 2,
              op.tag,
            );
            expect(seq).toBe(fits ? posted : -1);
            if (fits) {
              posted++;
              fifo.push({ op, seq, writtenMs, bytes: pad + need });
              used += pad + need;
              head = ((pad > 0 ? 0 : head) + need) % RING_BYTES;
            }
          } else if (a.kind === 'claim') {
            const c = rings[a.who]!.claim(a.max, now);
            const live = holder !== -1 && (holder === a.who || now - beat < CLAIM_LEASE_MS);
            if (fifo.length === 0 || live) {
              expect(c).toBeNull();
              continue;
            }
            expect(c).not.toBeNull();
            const want = fifo.slice(0, a.max);
            expect(c!.ops.map((o) => o.seq)).toEqual(want.map((w) => w.seq));
            c!.ops.forEach((o, i) => {
              const m = want[i]!;
              expect(Array.from(o.recKey)).toEqual(Array.from(recKeyOf(m.op.key)));
              expect(Array.from(o.value)).toEqual(Array.from(valueOf(m.op)));
              expect(o.tombstone).toBe(m.op.tombstone);
              expect(o.tag).toBe(m.op.tag);
              expect(o.writtenMs).toBe(m.writtenMs);
            });
            claims[a.who] = c;
            holder = a.who;
            beat = now;
          } else {
            const c = claims[a.who];
            if (c === null || c === undefined) continue;
            const ok = rings[a.who]!.complete(c);
            expect(ok).toBe(holder === a.who);
            claims[a.who] = null;
            if (ok) {
              const gone = fifo.splice(0, c.ops.length);
              for (const g of gone) used -= g.bytes;
              holder = -1;
              expect(seqDone(rings[0]!.done, gone[gone.length - 1]!.seq)).toBe(true);
            }
          }
          expect(rings[0]!.waiting).toBe(fifo.length);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('a second thread cannot claim while the first claim is alive, takes it over after the lease, and the first complete() then changes nothing', () => {
    const buffer = HandoffRing.create(RING_BYTES);
    const a = new HandoffRing(buffer, 1, 50);
    const b = new HandoffRing(buffer, 2, 50);
    for (let i = 0; i < 5; i++)
      a.post(recKeyOf(i), valueOf({ key: i, size: 100, tombstone: false, tag: i }), false, i, 0, i);
    const first = a.claim(3, 1000)!;
    expect(first.ops.map((o) => o.tag)).toEqual([0, 1, 2]);
    expect(b.claim(10, 1000 + CLAIM_LEASE_MS - 1)).toBeNull();
    expect(a.claim(10, 1001)).toBeNull(); // its own claim is still in progress
    const taken = b.claim(10, 1000 + CLAIM_LEASE_MS + 1)!;
    expect(taken.ops.map((o) => o.tag)).toEqual([0, 1, 2, 3, 4]);
    expect(b.takeovers).toBe(1);
    expect(a.renew(first)).toBe(false);
    expect(a.complete(first)).toBe(false);
    expect(a.waiting).toBe(5);
    expect(b.complete(taken)).toBe(true);
    expect(a.waiting).toBe(0);
    expect(seqDone(a.done, 4)).toBe(true);
  });

  it('wraps around the end of the ring with a pad, and refuses a post that does not fit (counted)', () => {
    const buffer = HandoffRing.create(RING_BYTES);
    const r = new HandoffRing(buffer, 1, 50);
    const size = 10_000;
    const post = (key: number): boolean =>
      r.post(recKeyOf(key), valueOf({ key, size, tombstone: false, tag: 0 }), false, 1, 0, 0) >= 0;
    let next = 0;
    let expected = 0;
    while (post(next)) next++;
    expect(next).toBe(Math.floor((RING_BYTES - 8) / entryBytes(size)));
    let refused = 1;
    for (let round = 0; round < 30; round++) {
      const c = r.claim(1 + (round % 3), round)!;
      for (const o of c.ops) {
        const key = new DataView(o.recKey.buffer).getUint32(0, true);
        expect(key).toBe(expected++);
        expect(Array.from(o.value)).toEqual(Array.from(valueOf({ key, size, tombstone: false, tag: 0 })));
      }
      expect(r.complete(c)).toBe(true);
      while (post(next)) next++;
      refused++;
    }
    expect(next).toBeGreaterThan(2 * Math.floor(RING_BYTES / entryBytes(size))); // it went round
    expect(r.overflows).toBe(refused);
  });

  it('workers killed while posting leave a ring that still works: every entry claimed afterwards is whole', async () => {
    requireBuild();
    const buffer = HandoffRing.create(RING_BYTES);
    const main = new HandoffRing(buffer, 1, 20);
    const source = `
      const { workerData } = require('node:worker_threads');
      import(workerData.url).then(({ HandoffRing }) => {
        const r = new HandoffRing(workerData.buffer, workerData.token, 20);
        require('node:worker_threads').parentPort.postMessage('go');
        const key = new Uint8Array(24);
        for (let i = 0; ; i++) {
          const size = 200 + (i % 700);
          const v = new Uint8Array(size);
          for (let j = 0; j < size; j++) v[j] = (size + j) & 0xff;
          new DataView(key.buffer).setUint32(0, size, true);
          r.post(key, v, false, i, 0, -1);
        }
      });`;
    const url = new URL('../../../dist/src/spill/handoff.js', import.meta.url).href;
    let claimed = 0;
    for (let round = 0; round < 12; round++) {
      const w = new Worker(source, { eval: true, workerData: { buffer, token: 100 + round, url } });
      await new Promise((resolve) => w.once('message', resolve));
      await new Promise((resolve) => setTimeout(resolve, 2 + (round % 4) * 3));
      await w.terminate();
      // Drain what the killed worker left, checking every entry. A worker killed inside the
      // ring's lock leaves it held: claim() answers null until the lock is taken over.
      const deadline = Date.now() + 5_000;
      while (main.waiting > 0) {
        expect(Date.now()).toBeLessThan(deadline);
        const c = main.claim(64);
        if (c === null) {
          await new Promise((resolve) => setTimeout(resolve, 5));
          continue;
        }
        for (const o of c.ops) {
          const size = new DataView(o.recKey.buffer).getUint32(0, true);
          expect(o.value.length).toBe(size);
          expect(o.value.every((b, j) => b === ((size + j) & 0xff))).toBe(true);
          claimed++;
        }
        expect(main.complete(c)).toBe(true);
      }
      // The ring takes posts again.
      expect(main.post(new Uint8Array(24), new Uint8Array(8), true, 1, 0, -1)).toBeGreaterThanOrEqual(0);
      const last = main.claim(64)!;
      expect(last.ops).toHaveLength(1);
      expect(main.complete(last)).toBe(true);
    }
    expect(claimed).toBeGreaterThan(0);
  });
});
