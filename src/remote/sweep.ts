/**
 * The background sweep: after an invalidateModel or clear, keys of older generations are
 * garbage that only their TTL would remove. This walks the prefix with SCAN on every master and
 * UNLINKs, in batches, each value or lease key whose epoch or model generation is older than the
 * one read from Redis. It never blocks a caller, stops after SCAN_CALLS pages per node (or when
 * the cache closes), and a failure ends the run quietly (the next bump starts another; TTLs
 * remain the backstop).
 */
import { FAILED, type RedisLink } from './client.js';
import { type KeyNames, modelTag } from './format.js';

const SCAN_COUNT = 1000;
/** SCAN calls per node and run: about a million keys looked at (the prefix may share a large database). */
const SCAN_CALLS = 1000;

export async function sweep(
  link: RedisLink,
  names: KeyNames,
  current: { epoch: number; gens: Record<string, number> },
  stopped: () => boolean,
): Promise<void> {
  const genOfTag = new Map<string, number>();
  for (const [model, g] of Object.entries(current.gens)) genOfTag.set(modelTag(model), g);
  const nodes = await link.call(() => link.nodes());
  if (nodes === FAILED) return;
  for (const node of nodes) {
    let cursor = '0';
    let calls = 0;
    do {
      if (stopped()) return;
      const reply = await link.call(
        () =>
          node.send(undefined, true, [
            'SCAN',
            cursor,
            'MATCH',
            names.scanPattern(),
            'COUNT',
            String(SCAN_COUNT),
          ]) as Promise<[Buffer | string, (Buffer | string)[]]>,
      );
      if (reply === FAILED) return;
      cursor = String(reply[0]);
      const old: string[] = [];
      for (const raw of reply[1]) {
        const key = String(raw);
        const p = names.parse(key);
        if (p === undefined) continue;
        if (p.epoch < current.epoch || p.gen < (genOfTag.get(p.tag) ?? 0)) old.push(key);
      }
      calls++;
      if (old.length > 0) {
        // One UNLINK per key: keys of one SCAN page may sit in different slots.
        const done = await link.call(() => Promise.all(old.map((k) => node.send(k, false, ['UNLINK', k]))));
        if (done === FAILED) return;
      }
    } while (cursor !== '0' && calls < SCAN_CALLS);
  }
}
