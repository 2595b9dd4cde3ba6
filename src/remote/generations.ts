/**
 * Fleet generations: how invalidateModel() and clear() stay O(1) across machines.
 *
 * Redis holds a generation per model (hash P:gens) and an epoch for clear() (P:epoch); a bump
 * sets one to max(itself + 1, the time in milliseconds) with a small script (BUMP), so numbers only
 * grow, even across a Redis that lost its data. Both are part of every remote key (format.ts), so a bump makes every older key a miss at
 * once, whatever their number, and the old keys go by TTL or the background sweep (sweep.ts).
 *
 * This machine's view lives in shared memory (a word per model in the registry, one header word
 * for the epoch), so every thread builds keys of the same generation. A view is only ever raised.
 * Whichever thread raises it first also drops the model (or everything) from the local tiers —
 * memory and disk — so no tier serves a vector of the old generation after that.
 *
 * How a machine learns a bump: the bumping machine publishes it on P:bump (delivered within a
 * round trip), and the opening instance of every cache re-reads P:gens and P:epoch every
 * SYNC_MS, since pub/sub drops messages while a subscriber is disconnected. So a bump reaches
 * every machine within SYNC_MS plus one timeout (remote.timeoutMs) while Redis is reachable, and
 * at its first successful read after an outage. The generations a spill file's records were
 * written under are kept in the file (spill FleetMarks): a machine that was down during a bump
 * drops the model from its disk at open instead of serving the old vectors.
 *
 * Our own bump raises the local view first (new writes go to new keys at once), then sends the
 * script. One that fails (Redis down) is retried on every sync until Redis takes it. Redis below
 * our view (it lost its data) is answered with a bump of its own (checkRegression).
 */
import type { SharedStore } from '../memory/store.js';
import { FAILED, type RedisLink } from './client.js';
import type { KeyNames } from './format.js';

/** How often the opening instance re-reads the fleet's generations. */
export const SYNC_MS = 1000;
/** A leader that has not beaten for this long (closed or dead) is taken over. */
const FLEET_LEAD_STALE_S = 3;
/** Longest pause between two attempts to subscribe after failures. */
const SUBSCRIBE_BACKOFF_MAX_MS = 60_000;

export interface GenerationHooks {
  /** Drop `model` from the local tiers (memory and disk), without bumping the fleet again. */
  dropModel(model: string): void;
  /** Drop everything from the local tiers, without bumping the fleet again. */
  dropAll(): void;
  /** Record the generations in force (spill file marks), if there is a spill tier. */
  record?(epoch: number, gens: Record<string, number>): void;
}

/** A bump to send: Redis takes max(its value + 1, to). */
type Bump = { kind: 'model'; model: string; to: number } | { kind: 'epoch'; to: number };

/**
 * A bump sets the counter to max(counter + 1, to), where `to` is the bumper's own choice:
 * max(its view + 1, now in milliseconds). Numbers only grow, and a bump made after Redis lost
 * its data cannot land on a number some machine still holds (its view came from an earlier
 * millisecond, as far as the machines' clocks agree). KEYS[1]: the hash (field ARGV[1]) or, with ARGV[1] empty, a string counter.
 */
/** Generations are millisecond times (64-bit words in shared memory). */
function nowMs(): number {
  return Date.now();
}

const BUMP = `local cur
if ARGV[1] == '' then cur = tonumber(redis.call('GET', KEYS[1]) or '0') else cur = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0') end
local nxt = tonumber(ARGV[2])
if nxt <= cur then nxt = cur + 1 end
if ARGV[1] == '' then redis.call('SET', KEYS[1], nxt) else redis.call('HSET', KEYS[1], ARGV[1], nxt) end
return nxt`;

export class FleetGenerations {
  private timer: NodeJS.Timeout | null = null;
  private pending: Bump[] = [];
  private inFlight: Promise<void> | null = null;
  /** The last generations read from Redis (for the spill marks and the sweep). */
  private known: Record<string, number> = {};
  private closed = false;
  /** The spill file's marks, applied at the first successful read (then null). */
  private marks: { epoch: number; gens: Record<string, number> } | null = null;
  private recorded = '';
  /** When to try subscribing again after a failure, and the pause before the next one. */
  private subscribeAt = 0;
  private subscribed = false;
  private subscribeBackoff = SYNC_MS / 2;

  constructor(
    private readonly link: RedisLink,
    private readonly names: KeyNames,
    private readonly store: SharedStore,
    private readonly hooks: GenerationHooks,
    /** Whether Redis may be used now (the tier checks the fleet's key secret first; again with recheck). */
    private readonly gate: (recheck?: boolean) => Promise<boolean>,
  ) {}

  /** The (epoch, generation) remote keys of `model` are built with now. */
  current(model: string): { epoch: number; gen: number } {
    const id = this.store.registry.ensure(model);
    return { epoch: this.store.fleet.epoch(), gen: this.store.registry.fleetGeneration(id) };
  }

  /** The last generations read from Redis, by model name. */
  lastRead(): { epoch: number; gens: Record<string, number> } {
    return { epoch: this.store.fleet.epoch(), gens: this.known };
  }

  /**
   * Starts the periodic re-read of this instance: every SYNC_MS, whichever attached instance
   * leads the fleet view (the first to ask; another once the leader stops beating, closed or
   * dead) subscribes to bump announcements and re-reads the counters, for every thread of the
   * machine. The opening instance leads from the start and waits for the first read; `marks`: the
   * generations the spill file was written under.
   */
  async start(
    marks: { epoch: number; gens: Record<string, number> } | undefined,
    opener: boolean,
  ): Promise<void> {
    this.timer = setInterval(() => {
      if (this.closed) return;
      // This instance's own bumps that Redis did not take yet are retried here, leader or not.
      if (this.pending.length > 0 && this.inFlight === null) void this.sendPending();
      if (!this.store.fleet.lead(FLEET_LEAD_STALE_S)) return;
      // The periodic read never waits for the subscription: a subscription that failed (Redis
      // down at open, or an ACL user without channel rights) is retried apart, backing off.
      if (Date.now() >= this.subscribeAt) void this.subscribe();
      void this.sync();
    }, SYNC_MS);
    this.timer.unref();
    if (!opener || !this.store.fleet.lead(FLEET_LEAD_STALE_S)) return;
    this.marks = marks ?? null;
    void this.subscribe(); // pub/sub only speeds learning up: the first read does not wait for it
    await this.sync();
  }

  private async subscribe(): Promise<void> {
    if (this.subscribed) return;
    this.subscribeAt = Number.POSITIVE_INFINITY; // one attempt at a time
    const ok = await this.link.subscribe(this.names.channel, (message) => this.onMessage(message));
    if (ok) {
      this.subscribed = true;
      return;
    }
    this.subscribeBackoff = Math.min(SUBSCRIBE_BACKOFF_MAX_MS, this.subscribeBackoff * 2);
    this.subscribeAt = Date.now() + this.subscribeBackoff;
  }

  private onMessage(message: string): void {
    // "e <epoch>" or "g <generation> <model>"
    if (message.startsWith('e ')) {
      const e = Number(message.slice(2));
      if (Number.isSafeInteger(e)) this.learnEpoch(e);
    } else if (message.startsWith('g ')) {
      const space = message.indexOf(' ', 2);
      const g = Number(message.slice(2, space));
      if (space > 0 && Number.isSafeInteger(g)) this.learnModel(message.slice(space + 1), g);
    }
  }

  private learnEpoch(e: number): void {
    if (this.store.fleet.raiseEpoch(e)) this.hooks.dropAll();
  }

  private learnModel(model: string, g: number): void {
    const id = this.idOf(model);
    if (id >= 0 && this.store.registry.raiseFleetGeneration(id, g)) this.hooks.dropModel(model);
  }

  /**
   * The model's registry id, registering it so that every thread builds its keys with the
   * fleet's generation from its first use. -1 if this cache cannot hold another model (it could
   * not store that model's vectors either).
   */
  private idOf(model: string): number {
    try {
      return this.store.registry.ensure(model);
    } catch {
      return -1;
    }
  }

  /**
   * Sends bumps not yet taken, then reads P:epoch and P:gens and learns what moved. At the
   * first successful read of a process with a spill file, a model whose generation differs from
   * the one its disk records were written under (the file's marks) is dropped locally too.
   */
  async sync(): Promise<void> {
    if (this.closed || !(await this.gate(true))) return;
    await this.sendPending();
    const read = await this.link.call(() =>
      Promise.all([
        this.link.send(this.names.epoch, true, ['GET', this.names.epoch]),
        this.link.send(this.names.gens, true, ['HGETALL', this.names.gens]),
      ]),
    );
    if (read === FAILED) return;
    const epoch = Number(String(read[0] ?? '0'));
    const gens = parseHash(read[1]);
    const marks = this.marks;
    this.marks = null;
    if (marks !== null) {
      if (marks.epoch !== epoch) this.hooks.dropAll();
      else
        for (const [model, g] of Object.entries(gens))
          if ((marks.gens[model] ?? 0) !== g) this.hooks.dropModel(model);
      // Marks say what the disk holds; memory is new, so raise the view without dropping again.
      this.store.fleet.raiseEpoch(epoch);
      for (const [model, g] of Object.entries(gens)) {
        const id = this.idOf(model);
        if (id >= 0) this.store.registry.raiseFleetGeneration(id, g);
      }
    } else {
      if (Number.isSafeInteger(epoch)) this.learnEpoch(epoch);
      for (const [model, g] of Object.entries(gens)) this.learnModel(model, g);
      this.checkRegression(epoch, gens);
    }
    this.known = gens;
    this.record();
  }

  /**
   * Redis below our view means it lost data (a restart without persistence, a flush, an
   * eviction). Machines that start now would build keys of generation 0 while we build ours:
   * we bump past our view, so the whole fleet moves to one generation again (dropping that model
   * once everywhere, which only costs hits).
   */
  private checkRegression(epoch: number, gens: Record<string, number>): void {
    const local = this.store.fleet.epoch();
    if (epoch < local && !this.pending.some((b) => b.kind === 'epoch')) {
      this.pending.push({ kind: 'epoch', to: Math.max(local + 1, nowMs()) });
    }
    const registry = this.store.registry;
    for (let id = 0; id < registry.count(); id++) {
      const mine = registry.fleetGeneration(id);
      const name = registry.name(id);
      const theirs = gens[name] ?? 0;
      if (mine > theirs && !this.pending.some((b) => b.kind === 'model' && b.model === name)) {
        this.pending.push({ kind: 'model', model: name, to: Math.max(mine + 1, nowMs()) });
      }
    }
    if (this.pending.length > 0) void this.sendPending();
  }

  private record(): void {
    if (this.hooks.record === undefined) return;
    const epoch = this.store.fleet.epoch();
    const key = JSON.stringify([epoch, this.known]);
    if (key === this.recorded) return;
    this.recorded = key;
    this.hooks.record(epoch, { ...this.known });
  }

  /** Our own invalidateModel(model): new keys at once, the fleet's counter behind. */
  bumpModel(model: string): Promise<void> {
    const id = this.store.registry.ensure(model);
    // The number we ask Redis for, in force here at once: a set right after this call is
    // written under it, and Redis answers with it unless another machine bumped meanwhile.
    const to = Math.max(this.store.registry.fleetGeneration(id) + 1, nowMs());
    this.store.registry.raiseFleetGeneration(id, to);
    this.pending.push({ kind: 'model', model, to });
    return this.sendPending();
  }

  /** Our own clear(). */
  bumpEpoch(): Promise<void> {
    const to = Math.max(this.store.fleet.epoch() + 1, nowMs());
    this.store.fleet.raiseEpoch(to);
    this.pending.push({ kind: 'epoch', to });
    return this.sendPending();
  }

  /** Resolves once every bump so far was sent (taken, or failed and kept for the next sync). */
  async settled(): Promise<void> {
    while (this.inFlight !== null) await this.inFlight;
    if (this.pending.length > 0) await this.sendPending();
  }

  private sendPending(): Promise<void> {
    if (this.inFlight !== null)
      return this.inFlight.then(() => (this.pending.length > 0 ? this.sendPending() : undefined));
    if (this.pending.length === 0) return Promise.resolve();
    this.inFlight = this.sendAll().finally(() => {
      this.inFlight = null;
    });
    return this.inFlight;
  }

  private async sendAll(): Promise<void> {
    if (!(await this.gate())) return;
    while (this.pending.length > 0) {
      const b = this.pending[0]!;
      const n = this.names;
      const to = String(b.to);
      const r = await this.link.call(() =>
        b.kind === 'model'
          ? this.link.send(n.gens, false, ['EVAL', BUMP, '1', n.gens, b.model, to])
          : this.link.send(n.epoch, false, ['EVAL', BUMP, '1', n.epoch, '', to]),
      );
      if (r === FAILED) return; // kept; the next sync retries
      this.pending.shift();
      const v = Number(r);
      if (b.kind === 'model') {
        this.learnModel(b.model, v);
        this.known[b.model] = v;
        await this.link.call(() =>
          this.link.send(undefined, false, ['PUBLISH', n.channel, `g ${v} ${b.model}`]),
        );
      } else {
        this.learnEpoch(v);
        await this.link.call(() => this.link.send(undefined, false, ['PUBLISH', n.channel, `e ${v}`]));
      }
      this.record();
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.store.fleet.resign();
  }
}

/** HGETALL's reply (a flat array in RESP2, a map in RESP3) as name → number. */
function parseHash(reply: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) out[String(reply[i])] = Number(String(reply[i + 1]));
  } else if (reply instanceof Map) {
    for (const [k, v] of reply) out[String(k)] = Number(String(v));
  } else if (typeof reply === 'object' && reply !== null) {
    for (const [k, v] of Object.entries(reply)) out[k] = Number(String(v));
  }
  for (const k of Object.keys(out)) if (!Number.isSafeInteger(out[k])) delete out[k];
  return out;
}
