/**
 * Opening a cache's tiers, in the order that settles the key secret: the spill file first (its
 * seed keeps a warm restart's keys), then the remote tier (the fleet's secret wins over the
 * file's: keys must agree across machines), then the memory that carries the secret to every
 * thread. Each tier module is loaded only when configured.
 */
import { EmbeddingCacheError } from './errors.js';
import { ST_SPILL_ERRORS, ST_SPILL_SUPERSEDED, ST_SPILL_WRITES } from './memory/layout.js';
import type { SharedStore } from './memory/store.js';
import type { ResolvedOptions } from './options.js';
import type { RemoteTier } from './remote/tier.js';
import type { SpillTier } from './spill/tier.js';
import type { SpillCount, SpillLinks } from './spill/types.js';

/** Counts the spill tier reports (writes, errors) in the store's shared counters. */
export function spillCounter(store: SharedStore): (kind: SpillCount, n: number) => void {
  const counters = store.counters;
  const word = { writes: ST_SPILL_WRITES, errors: ST_SPILL_ERRORS, superseded: ST_SPILL_SUPERSEDED } as const;
  return (kind, n) => counters.add(word[kind], n);
}

/**
 * The spill tier's view of the other threads (spill/types.ts, SpillLinks), over the store in
 * `to` (set once it exists: open() opens the spill tier first, and it does nothing before).
 */
export function spillLinks(to: { store: SharedStore | null }): SpillLinks {
  return {
    commits: () => to.store?.diskCommits() ?? 0,
    committed: () => to.store?.diskCommitted(),
    settled: (bucket) => to.store?.settlePending(bucket),
  };
}

export async function openSpill(
  o: ResolvedOptions,
  seed: Uint8Array,
  onCount: (kind: SpillCount, n: number) => void,
  links: SpillLinks,
): Promise<SpillTier> {
  // Loaded only when configured: a cache without a spill tier never loads LMDB's native module.
  const { SpillTier } = await import('./spill/tier.js');
  return SpillTier.open({
    path: o.spill!.path,
    maxBytes: o.spill!.maxBytes,
    persist: o.spill!.persist,
    keyHash: o.keyHash,
    seed,
    onCount,
    links,
  });
}

/**
 * Connects the remote tier and settles the key secret: the fleet's (adopted from Redis, or
 * derived from remote.secret). A spill file keyed by another secret takes the fleet's if it is
 * empty and is refused otherwise (its keys are one-way hashes: they cannot be re-keyed). With
 * Redis unreachable the cache opens on the file's (or a fresh) secret, unverified: the tier
 * checks it at its first successful call and stays off if the fleet's differs.
 */
export async function connectRemote(
  o: ResolvedOptions,
  local: Uint8Array,
  spill: SpillTier | null,
  client: unknown,
): Promise<{ remote: RemoteTier; secret: Uint8Array; verified: boolean }> {
  const { RemoteTier, fleetSecret, fingerprint } = await import('./remote/tier.js');
  const remote = await RemoteTier.connect(o.remote!, client);
  const fleet = await fleetSecret(remote.link, remote.names, local, o.remote!.derived);
  if (fleet === undefined) return { remote, secret: local, verified: false };
  if (spill !== null && !equalBytes(spill.seed, fleet) && !spill.adoptSeed(fleet)) {
    await remote.close();
    throw new EmbeddingCacheError(
      'ERR_SPILL_FORMAT',
      `The spill file at ${o.spill!.path} is keyed by secret ${fingerprint(spill.seed)}, but the fleet at prefix '${o.remote!.prefix}' uses secret ${fingerprint(fleet)}${o.remote!.derived !== null ? ' (derived from remote.secret)' : ''}. Its entries cannot be re-keyed (keys are one-way hashes): point spill.path at a new folder, or use another remote prefix.`,
    );
  }
  return { remote, secret: fleet.slice(), verified: true };
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
