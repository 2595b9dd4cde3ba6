/**
 * The simulator's policy interface: one call per access of the trace, in order.
 */
export interface Policy {
  name: string;
  /** True on a hit; on a miss the policy admits (and evicts) as it likes. */
  access(key: number): boolean;
  /** Releases what the policy holds (the real cache's memory); pure simulations have none. */
  close?(): Promise<void>;
}

/** Replays `trace` through `policy` and returns the number of hits. */
export function replay(policy: Policy, trace: Int32Array): number {
  let hits = 0;
  for (let i = 0; i < trace.length; i++) if (policy.access(trace[i]!)) hits++;
  return hits;
}
