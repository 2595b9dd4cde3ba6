/**
 * getOrCompute's waitTimeoutMs has an upper bound: claim deadlines are int32 milliseconds, so a
 * timeout of 2^31 ms or more cannot be represented (it would wrap and expire at once). Such a
 * value is refused with a RangeError that names the option; 2^30 ms (about 12 days) is accepted.
 */
import { describe, expect, it } from 'vitest';
import { useCaches } from '../../support/caches.js';

const embed = (missing: string[]): number[][] => missing.map((t) => [t.length, 1, 2, 3]);

describe('getOrCompute: waitTimeoutMs bounds', () => {
  const open = useCaches();

  it.each([
    ['2**31', 2 ** 31],
    ['Number.MAX_SAFE_INTEGER', Number.MAX_SAFE_INTEGER],
  ])('waitTimeoutMs %s is refused with a RangeError naming waitTimeoutMs', async (_, waitTimeoutMs) => {
    const cache = await open();
    let calls = 0;
    const counting = (m: string[]): number[][] => {
      calls++;
      return embed(m);
    };
    const p = cache.getOrCompute(['a', 'b'], counting, { waitTimeoutMs });
    await expect(p).rejects.toBeInstanceOf(RangeError);
    await expect(p).rejects.toThrow(/waitTimeoutMs/);
    expect(calls).toBe(0);
    expect(cache.has('a')).toBe(false);
  });

  it('waitTimeoutMs 2**30 is accepted', async () => {
    const cache = await open();
    const out = await cache.getOrCompute(['a', 'bb'], embed, { waitTimeoutMs: 2 ** 30 });
    expect(out.map((v) => Array.from(v))).toEqual([
      [1, 1, 2, 3],
      [2, 1, 2, 3],
    ]);
    // Hits on a second call, with the same bound.
    const again = await cache.getOrCompute(
      ['a', 'bb'],
      () => {
        throw new Error('must not be called');
      },
      { waitTimeoutMs: 2 ** 30 },
    );
    expect(again.map((v) => Array.from(v))).toEqual([
      [1, 1, 2, 3],
      [2, 1, 2, 3],
    ]);
  });
});
