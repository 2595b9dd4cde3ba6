/**
 * Single-flight across machines: the part of getOrCompute that runs only with a remote tier.
 *
 * Within a machine the claim table (inflight.ts) makes every thread wait for the one embedding a
 * text. Across machines a lease in Redis does the same (SET NX PX per text, remote/tier.ts):
 *
 * 1. Before claiming, the texts that missed locally are read from Redis (one round trip): in a
 *    warm fleet that is where most misses end.
 * 2. Texts we claimed locally are leased in Redis, and the ones we got are read once more: a
 *    text another machine stored and released between our read and our lease is a hit, not a
 *    second model call (the same double check as the local one).
 * 3. We embed what we lease, write it to Redis and wait for Redis to take it (publish), and only
 *    then end the leases: a machine waiting on our lease finds the value when it is released.
 * 4. Holding no leases, we poll for the texts other machines hold (backing off from 10 to 50
 *    ms): a value that appears is a hit; a lease that is gone (its machine died, or its model call
 *    failed) is taken over, read once more, and embedded here next round if still missing. After waitTimeoutMs a text is embedded
 *    here regardless.
 *
 * Correctness never rests on a lease: a lease that expires early, or Redis going away, costs a
 * duplicate model call at worst, never a wrong vector — values are content-keyed and any copy is
 * as good as another. With Redis unavailable every step answers "nobody holds it" and each
 * machine embeds for itself.
 */
import type { KeyOptions, SetOptions } from '../options.js';

/** @internal What getOrCompute needs from the remote tier (tiers.ts implements it). */
export interface FleetFlight {
  /** How long a lease holds; renewed while embedding runs. */
  readonly leaseMs: number;
  /**
   * Reads keys[4·at[i]…] from Redis, adopting hits locally; a miss (or Redis unavailable) is
   * undefined. `countMisses` false: a re-read of texts whose miss was counted already.
   */
  fetch(
    keys: Int32Array,
    at: readonly number[],
    opts: KeyOptions | undefined,
    countMisses?: boolean,
  ): Promise<(Float32Array | undefined)[]>;
  /** The Redis names of keys[4·at[i]…] (what lease, renew and release take). */
  namesOf(keys: Int32Array, at: readonly number[], opts: KeyOptions | undefined): string[];
  /** true where this machine now holds the lease; null if Redis is unavailable. */
  lease(names: readonly string[], ms: number): Promise<boolean[] | null>;
  renew(names: readonly string[], ms: number): Promise<void>;
  release(names: readonly string[]): Promise<void>;
  /** Writes vectors computed here to Redis and resolves when Redis has them (or gave up). */
  publish(
    keys: Int32Array,
    at: readonly number[],
    vectors: readonly Float32Array[],
    opts: SetOptions | undefined,
  ): Promise<void>;
  /** Counts texts waited for under another machine's lease. */
  countWaits(n: number): void;
}

/** Longest pause between two polls for texts another machine is embedding. */
const MAX_POLL_MS = 50;

/** Per unique text: what the fleet knows of it. */
export const FLEET_UNKNOWN = 0;
/** We hold its lease (name in `names`). */
export const FLEET_LEASED = 1;
/** No fleet coordination for it (Redis unavailable, or the wait for another machine ran out). */
export const FLEET_LOCAL = 2;

export class FleetRound {
  /** Per unique text: FLEET_UNKNOWN, FLEET_LEASED or FLEET_LOCAL. */
  readonly state: Uint8Array;
  /** Per unique text: its lease name once leased. */
  readonly names: (string | undefined)[];

  constructor(
    private readonly fleet: FleetFlight,
    private readonly keys: Int32Array,
    private readonly at: readonly number[],
    private readonly opts: SetOptions | undefined,
    count: number,
  ) {
    this.state = new Uint8Array(count);
    this.names = new Array<string | undefined>(count);
  }

  /**
   * Leases the texts of `need` not leased yet (at most `most`; the others go to `later`, for the
   * next round) and re-reads the ones we got. Returns the texts to embed here; `hit` receives
   * (u, vector) for values found; `held` receives texts another machine holds (to wait for once
   * we hold no leases).
   */
  async leaseAndRecheck(
    need: readonly number[],
    hit: (u: number, v: Float32Array) => void,
    held: number[],
    later: number[],
    most: number,
  ): Promise<number[]> {
    let fresh = need.filter((u) => this.state[u] === FLEET_UNKNOWN);
    if (fresh.length > most) {
      for (const u of fresh.slice(most)) later.push(u);
      fresh = fresh.slice(0, most);
      const deferred = new Set(later);
      need = need.filter((u) => !deferred.has(u));
    }
    if (fresh.length === 0) return [...need];
    const names = this.fleet.namesOf(
      this.keys,
      fresh.map((u) => this.at[u]!),
      this.opts,
    );
    const leased = await this.fleet.lease(names, this.fleet.leaseMs);
    const mine: number[] = [];
    const skip = new Set<number>();
    for (let i = 0; i < fresh.length; i++) {
      const u = fresh[i]!;
      if (leased === null) this.state[u] = FLEET_LOCAL;
      else if (leased[i]) {
        this.state[u] = FLEET_LEASED;
        this.names[u] = names[i];
        mine.push(u);
      } else {
        held.push(u);
        skip.add(u);
      }
    }
    // Leased just now: stored by another machine since our first read?
    const got = await this.fleet.fetch(
      this.keys,
      mine.map((u) => this.at[u]!),
      this.opts,
      false,
    );
    const done: string[] = [];
    for (let i = 0; i < mine.length; i++) {
      const v = got[i];
      if (v === undefined) continue;
      hit(mine[i]!, v);
      skip.add(mine[i]!);
      done.push(this.names[mine[i]!]!);
      this.state[mine[i]!] = FLEET_LOCAL;
    }
    await this.fleet.release(done);
    return need.filter((u) => !skip.has(u));
  }

  /**
   * Renews the leases of `us` still held every third of leaseMs until the returned function is
   * called (the timer never keeps the process alive).
   */
  keepLeased(us: readonly number[]): () => void {
    const timer = setInterval(
      () => {
        const names = us.filter((u) => this.state[u] === FLEET_LEASED).map((u) => this.names[u]!);
        if (names.length > 0) void this.fleet.renew(names, this.fleet.leaseMs);
      },
      Math.max(50, this.fleet.leaseMs / 3),
    );
    timer.unref();
    return () => clearInterval(timer);
  }

  /** Publishes a computed batch to Redis, then ends its leases. */
  async publish(batch: readonly number[], vectors: readonly Float32Array[]): Promise<void> {
    await this.fleet.publish(
      this.keys,
      batch.map((u) => this.at[u]!),
      vectors,
      this.opts,
    );
    const names = batch.filter((u) => this.state[u] === FLEET_LEASED).map((u) => this.names[u]!);
    for (const u of batch) this.state[u] = FLEET_LOCAL;
    await this.fleet.release(names);
  }

  /** Ends every lease still held (a failure path: other machines take over at once). */
  async releaseAll(): Promise<void> {
    const names: string[] = [];
    for (let u = 0; u < this.state.length; u++) {
      if (this.state[u] === FLEET_LEASED) {
        names.push(this.names[u]!);
        this.state[u] = FLEET_LOCAL;
      }
    }
    await this.fleet.release(names);
  }

  /**
   * Waits for texts other machines hold, until `until`: found values go to `hit`; texts whose
   * lease we could take over, and all that remain when time runs out, are returned to be
   * embedded here (those past `until` without a lease).
   */
  async wait(
    held: readonly number[],
    until: number,
    hit: (u: number, v: Float32Array) => void,
  ): Promise<number[]> {
    if (held.length === 0) return [];
    this.fleet.countWaits(held.length);
    let pending = [...held];
    let delay = 10;
    for (;;) {
      const got = await this.fleet.fetch(
        this.keys,
        pending.map((u) => this.at[u]!),
        this.opts,
        false,
      );
      const still: number[] = [];
      for (let i = 0; i < pending.length; i++) {
        const v = got[i];
        if (v !== undefined) hit(pending[i]!, v);
        else still.push(pending[i]!);
      }
      if (still.length === 0) return [];
      const names = this.fleet.namesOf(
        this.keys,
        still.map((u) => this.at[u]!),
        this.opts,
      );
      const leased = await this.fleet.lease(names, this.fleet.leaseMs);
      if (leased === null || Date.now() >= until) {
        for (const u of still) this.state[u] = FLEET_LOCAL;
        if (leased !== null) await this.fleet.release(names.filter((_, i) => leased[i]));
        return still;
      }
      const taken: number[] = [];
      for (let i = 0; i < still.length; i++) {
        if (!leased[i]) continue;
        const u = still[i]!;
        this.state[u] = FLEET_LEASED;
        this.names[u] = names[i];
        taken.push(u);
      }
      if (taken.length > 0) {
        // Its holder may have published and released between our read and our lease: read the
        // texts we took once more (as leaseAndRecheck does) before embedding any of them.
        const again = await this.fleet.fetch(
          this.keys,
          taken.map((u) => this.at[u]!),
          this.opts,
          false,
        );
        const done: string[] = [];
        const found = new Set<number>();
        for (let i = 0; i < taken.length; i++) {
          const v = again[i];
          if (v === undefined) continue;
          const u = taken[i]!;
          hit(u, v);
          found.add(u);
          done.push(this.names[u]!);
          this.state[u] = FLEET_LOCAL;
        }
        await this.fleet.release(done);
        // Holding leases now: embed them before waiting any longer (never wait while holding).
        return still.filter((u) => !found.has(u));
      }
      pending = still;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(MAX_POLL_MS, delay * 2);
    }
  }
}
