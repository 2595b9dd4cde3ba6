/**
 * The remote tier's words in shared memory (layout.ts: H_FLEET_EPOCH, H_FLEET_LEADER,
 * H_FLEET_BEAT): the fleet's clear() epoch as this machine knows it, and which attached instance
 * keeps that view current. Every thread builds its Redis keys from these, so they agree without
 * a message. (Per-model fleet generations sit in the model records: registry.ts.)
 */
import { H_FLEET_BEAT, H_FLEET_EPOCH, H_FLEET_LEADER } from './layout.js';
import { loadWide, raiseWide, wideView } from './registry.js';

export class FleetWords {
  private readonly wide: BigInt64Array;

  constructor(
    private readonly ctl: Int32Array,
    /** This instance's lock-owner token: its name as the leader. */
    private readonly token: number,
  ) {
    this.wide = wideView(ctl);
  }

  /** The fleet's clear() epoch as this machine knows it. */
  epoch(): number {
    return loadWide(this.wide, H_FLEET_EPOCH);
  }

  /** Raises the known fleet epoch to e; true if this call raised it. */
  raiseEpoch(e: number): boolean {
    return raiseWide(this.wide, H_FLEET_EPOCH, e);
  }

  /**
   * Whether this instance leads the fleet view now: it already did, or the leader's last beat is
   * `staleS` seconds old (closed or dead) and this call took over. A leader beats by calling it.
   */
  lead(staleS: number): boolean {
    const nowS = (Date.now() / 1000) | 0;
    const leader = Atomics.load(this.ctl, H_FLEET_LEADER);
    if (leader !== this.token) {
      if (leader !== 0 && nowS - Atomics.load(this.ctl, H_FLEET_BEAT) < staleS) return false;
      if (Atomics.compareExchange(this.ctl, H_FLEET_LEADER, leader, this.token) !== leader) return false;
    }
    Atomics.store(this.ctl, H_FLEET_BEAT, nowS);
    return true;
  }

  /** Gives the lead up (at close), so another instance takes it over at its next beat. */
  resign(): void {
    Atomics.compareExchange(this.ctl, H_FLEET_LEADER, this.token, 0);
  }
}
