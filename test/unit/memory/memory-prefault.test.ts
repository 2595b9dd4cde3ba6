/**
 * The prefaulter's steps (memory/prefault-steps.ts), run on this thread: how far ahead it
 * commits, that a touch never changes a word another thread wrote, and that it stops at
 * maxPages. (test/integration/prefault.test.ts runs the real thread beside inserts.)
 */
import { describe, expect, it } from 'vitest';
import { H_PAGES_USED, LAYOUT_VERSION, PAGE_BYTES, PAGES_PER_ARENA } from '../../../src/memory/layout.js';
import {
  aheadTarget,
  beatAge,
  type PrefaultData,
  runAhead,
  touchPage,
} from '../../../src/memory/prefault-steps.js';
import { committedPages, storeParts } from '../../support/store.js';

describe('memory: prefault steps', () => {
  it('runs ahead by a quarter of the pages in use, at most aheadPages, never past maxPages', () => {
    expect(aheadTarget(0, 1000, 256)).toBe(0);
    expect(aheadTarget(100, 1000, 256)).toBe(125);
    expect(aheadTarget(800, 1000, 256)).toBe(1000);
    expect(aheadTarget(2000, 100_000, 256)).toBe(2256);
    expect(aheadTarget(99_990, 100_000, 256)).toBe(100_000);
  });

  it('commits pages from H_PAGES_USED to the target and resumes where it stopped', () => {
    const p = storeParts(64);
    const data: PrefaultData = {
      layoutVersion: LAYOUT_VERSION,
      beat: 0,
      control: p.control,
      arenas: p.arenas,
      maxPages: p.maxPages,
      aheadPages: 8,
      idleMs: 0,
    };
    const ctl = new Int32Array(p.control);
    expect(runAhead(ctl, data, 0)).toBe(0); // nothing in use: nothing ahead
    ctl[H_PAGES_USED] = 20;
    expect(runAhead(ctl, data, 0)).toBe(25);
    expect(committedPages(p.arenas)).toBe(25);
    ctl[H_PAGES_USED] = 40;
    expect(runAhead(ctl, data, 25)).toBe(48); // 40 + min(8, 10)
    expect(committedPages(p.arenas)).toBe(48);
    ctl[H_PAGES_USED] = p.maxPages - 1;
    expect(runAhead(ctl, data, 48)).toBe(p.maxPages);
    expect(committedPages(p.arenas)).toBe(p.maxPages);
  });

  it('a touch leaves every word as it was, including words written after the page was committed', () => {
    const p = storeParts(4);
    touchPage(p.arenas, 0);
    const words = new Int32Array(p.arenas[0]!, 0, PAGE_BYTES / 4);
    for (let i = 0; i < words.length; i++) words[i] = (i * 2654435761) | 0;
    touchPage(p.arenas, 0);
    touchPage(p.arenas, 1);
    for (let i = 0; i < words.length; i++)
      if (words[i] !== ((i * 2654435761) | 0)) expect.fail(`word ${i} changed`);
    const next = new Int32Array(p.arenas[0]!, PAGE_BYTES, PAGE_BYTES / 4);
    expect(next.every((w) => w === 0)).toBe(true);
  });

  it('addresses pages past the first arena (maxBytes above 4 GiB)', () => {
    // Only the address arithmetic: page PAGES_PER_ARENA is byte 0 of arena 1.
    const arenas = [
      new SharedArrayBuffer(0, { maxByteLength: PAGE_BYTES }),
      new SharedArrayBuffer(0, { maxByteLength: 2 * PAGE_BYTES }),
    ];
    // touchPage(arenas, PAGES_PER_ARENA) must grow arena 1, not arena 0.
    touchPage(arenas, PAGES_PER_ARENA);
    expect(arenas[0]!.byteLength).toBe(0);
    expect(arenas[1]!.byteLength).toBe(PAGE_BYTES);
    touchPage(arenas, PAGES_PER_ARENA + 1);
    expect(arenas[1]!.byteLength).toBe(2 * PAGE_BYTES);
  });

  it("a beat's age is wrap-safe: the int32 second count wraps in 2038", () => {
    expect(beatAge(100, 105)).toBe(5);
    expect(beatAge(0x7ffffffe, (0x7ffffffe + 4) | 0)).toBe(4);
  });
});
