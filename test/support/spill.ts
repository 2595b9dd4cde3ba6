/**
 * The spill tier under test: tiers opened with the test seed and closed after each test, and
 * a bulk enqueue of the deterministic records of data.mjs.
 */
import { afterEach } from 'vitest';
import { SpillTier, type SpillTierOptions } from '../../src/spill/tier.js';
import { key, SEED, vector } from './data.mjs';
// Imported for its afterEach, registered first so that it runs after ours: tiers close before
// their folders are removed.
import './temp.js';

const tiers: SpillTier[] = [];

afterEach(async () => {
  for (const tier of tiers.splice(0)) await tier.close();
});

/** Opens a tier (closed after the test) with xxhash and SEED unless overridden. */
export function openTier(path: string, options: Partial<SpillTierOptions> = {}): SpillTier {
  const tier = SpillTier.open({ path, keyHash: 'xxhash', seed: SEED, ...options });
  tiers.push(tier);
  return tier;
}

/** Enqueues records [from, to) of data.mjs (key(i), vector(i, dims)) under one model. */
export function enqueueRange(
  tier: SpillTier,
  from: number,
  to: number,
  opts: { model?: string; dims?: number; expiresMs?: number } = {},
): void {
  const now = Date.now();
  for (let i = from; i < to; i++) {
    tier.enqueue({
      key: key(i),
      model: opts.model ?? 'm',
      vector: vector(i, opts.dims),
      createdMs: now,
      expiresMs: opts.expiresMs ?? 0,
    });
  }
}
