/**
 * RemoteTier: a shared Redis (or Valkey) tier behind memory and disk, so a fleet of machines
 * embeds each text once. Tiers (../tiers.ts) decides when it is read and written; this file
 * turns keys into Redis commands and back, and never lets a Redis fault out: a failed or slow
 * call is a miss (reads), a counted error (writes), and the local tiers go on.
 *
 *   reads    one MGET per hash-tag bucket (one in all on a single node), sent in one tick
 *   writes   behind the caller, in batches sent in one tick: a conditional SET (Lua) that keeps
 *            the copy with the higher order stamp, so a late write never undoes a later one
 *   deletes  a tombstone through the same script (expires after TOMBSTONE_MS)
 *   leases   SET NX PX per text being embedded (getOrCompute's single-flight across machines)
 *
 * Which generation a key belongs to is generations.ts; the byte formats are format.ts.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { SECRET_BYTES } from '../key/hasher.js';
import {
  ST_REMOTE_ERRORS,
  ST_REMOTE_HITS,
  ST_REMOTE_INVALID,
  ST_REMOTE_MISSES,
  ST_REMOTE_WRITES,
} from '../memory/layout.js';
import type { SharedStore } from '../memory/store.js';
import { type ConnectSpec, FAILED, RedisLink } from './client.js';
import { bucketOf, decodeValue, encodeValue, KeyNames } from './format.js';
import { FleetGenerations, type GenerationHooks } from './generations.js';
import { sweep } from './sweep.js';

/** What a remote tier is opened with; structured-cloneable (attached threads reconnect from it). */
export interface RemoteSettings {
  readonly connect: ConnectSpec;
  readonly prefix: string;
  /** Expiry of every value written (0: none beyond the entry's own TTL). */
  readonly ttlMs: number;
  readonly timeoutMs: number;
  readonly leaseMs: number;
  /** Derive the fleet secret from the user's secret (never stored in Redis) instead of adopting P:secret. */
  readonly derived: Uint8Array | null;
}

/** How long a delete's tombstone keeps a late write of an older copy out. */
export const TOMBSTONE_MS = 60 * 60 * 1000;
/**
 * Most values waiting to be written behind; past it the oldest are dropped and counted as errors
 * (Redis too slow to keep up, yet not failing often enough to open the breaker).
 */
const QUEUE_MAX = 65_536;
/** Most values one write-behind round sends (in one tick): about 400 KB of 768-d vectors. */
const WRITE_BATCH = 128;
/**
 * Writes get this many times timeoutMs: they are behind the caller (only flush() and
 * getOrCompute's publish wait for them), and a batch is larger than a read.
 */
const WRITE_TIMEOUT_FACTOR = 4;

/**
 * Keeps the copy with the higher stamp (bytes 9-16 of a value, big-endian, compared byte by byte:
 * Lua's string `>` follows the server's locale); ARGV[2]: PX, 0 for none. 1 if written.
 */
const CONDITIONAL_SET = `local cur = redis.call('GETRANGE', KEYS[1], 0, 15)
if #cur == 16 and string.sub(cur, 1, 2) == 'EV' then
  for i = 9, 16 do
    local a, b = string.byte(cur, i), string.byte(ARGV[1], i)
    if a > b then return 0 end
    if a < b then break end
  end
end
if ARGV[2] == '0' then redis.call('SET', KEYS[1], ARGV[1]) else redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
return 1`;
const CONDITIONAL_SET_SHA = createHash('sha1').update(CONDITIONAL_SET).digest('hex');

interface Write {
  key: string;
  value: Buffer;
  px: number;
}

export interface RemoteRead {
  /** The vector, or undefined (a miss, a tombstone, an invalid value, or Redis unavailable). */
  vector: Float32Array | undefined;
  expiresMs: number;
}

export class RemoteTier {
  readonly names: KeyNames;
  private gens: FleetGenerations | null = null;
  private store: SharedStore | null = null;
  private parkedErrors = 0;
  private queue: Write[] = [];
  private draining: Promise<void> | null = null;
  private readonly token = randomBytes(8).toString('hex');
  private sweeping: Promise<void> | null = null;
  private closing = false;
  /** Whether Redis's key secret was checked against this cache's (the first call that reaches Redis checks it). */
  private verified = false;
  /** Redis holds another fleet's secret: the tier stays off for this instance's life. */
  private off = false;

  private constructor(
    readonly settings: RemoteSettings,
    private readonly linkOrNull: RedisLink | null,
  ) {
    this.names = new KeyNames(settings.prefix);
  }

  /**
   * Connects (never throws for Redis being down: the tier starts 'down' and recovers by itself).
   * attach() finishes opening once the cache's memory exists.
   */
  static async connect(settings: RemoteSettings, given: unknown): Promise<RemoteTier> {
    let parked = 0;
    let tier: RemoteTier | null = null;
    const link = await RedisLink.open(settings.connect, given, {
      timeoutMs: settings.timeoutMs,
      onError: () => (tier === null ? parked++ : tier.countError()),
    });
    tier = new RemoteTier(settings, link);
    tier.parkedErrors = parked;
    return tier;
  }

  private countError(): void {
    if (this.store !== null) this.store.counters.add(ST_REMOTE_ERRORS);
    else this.parkedErrors++;
  }

  get link(): RedisLink {
    return this.linkOrNull!;
  }

  /** Binds the tier to the cache's memory (counters, fleet generations) and the local drop hooks. */
  attach(store: SharedStore, hooks: GenerationHooks, verified: boolean): FleetGenerations {
    this.store = store;
    store.counters.add(ST_REMOTE_ERRORS, this.parkedErrors);
    this.parkedErrors = 0;
    this.verified = verified;
    // The opening instance's periodic read re-checks the secret too (SET NX, GET): after Redis
    // lost its data, the running fleet puts its secret back before a new cache makes another.
    this.gens = new FleetGenerations(this.link, this.names, store, hooks, (recheck) => this.usable(recheck));
    return this.gens;
  }

  private get generations(): FleetGenerations {
    return this.gens!;
  }

  /**
   * Starts keeping the machine's view of the fleet's generations current (generations.ts,
   * start); the opening instance leads and waits for the first read, with the spill file's marks.
   */
  startGenerations(
    marks: { epoch: number; gens: Record<string, number> } | undefined,
    opener: boolean,
  ): Promise<void> {
    return this.generations.start(marks, opener);
  }

  /** 'up'; 'down' while the breaker is open; 'off' if Redis holds another fleet's key secret. */
  state(): 'up' | 'down' | 'off' {
    return this.off ? 'off' : this.link.state();
  }

  /**
   * Whether this instance may use Redis now: false while it is off, or while the key secret is
   * unchecked and Redis cannot be asked. Checked once: a cache that opened while Redis was down
   * used a local secret, and must not mix its keys with a fleet that has another one.
   */
  private async usable(recheck = false): Promise<boolean> {
    if (this.off) return false;
    if (this.verified && (!recheck || this.settings.derived !== null)) return true;
    const ours = this.store!.secret();
    const fleet = await fleetSecret(this.link, this.names, ours, this.settings.derived);
    if (fleet === undefined) return false;
    this.verified = true;
    if (Buffer.compare(Buffer.from(fleet), Buffer.from(ours)) !== 0) {
      this.goOff(fleet, ours);
      return false;
    }
    return true;
  }

  /** The value key of key k under `model`'s current fleet generation. */
  keyOf(k: Int32Array, ko: number, model: string): string {
    const { epoch, gen } = this.generations.current(model);
    return this.names.value(k, ko, this.names.tagOf(model), epoch, gen);
  }

  // ── reads ──────────────────────────────────────────────────────────────────────────────────

  /**
   * Reads keys[4·at[i]…] of `model` (dimension `dims`, 0 if not known yet): one MGET per
   * bucket, all sent at once. Counts a hit per key found, a miss per key not found (unless
   * `countMisses` is false: getOrCompute's re-reads of a text it already counted), and every
   * invalid value. Redis unavailable: every result is a miss (and the failure an error).
   */
  async read(
    keys: Int32Array,
    at: readonly number[],
    model: string,
    dims: number,
    countMisses = true,
  ): Promise<RemoteRead[]> {
    const n = at.length;
    const out: RemoteRead[] = Array.from({ length: n }, () => ({ vector: undefined, expiresMs: 0 }));
    if (n === 0) return out;
    const c = this.store!.counters;
    if (!(await this.usable())) {
      if (countMisses) c.add(ST_REMOTE_MISSES, n);
      return out;
    }
    const names = at.map((p) => this.keyOf(keys, p * 4, model));
    const groups = this.link.isCluster ? groupByBucket(keys, at) : [at.map((_, i) => i)];
    const replies = await this.link.call(() =>
      Promise.all(
        groups.map(
          (g) =>
            this.link.send(names[g[0]!], true, ['MGET', ...g.map((i) => names[i]!)]) as Promise<
              (Buffer | null)[]
            >,
        ),
      ),
    );
    if (replies === FAILED) {
      if (countMisses) c.add(ST_REMOTE_MISSES, n);
      return out;
    }
    const now = Date.now();
    let hits = 0;
    for (let gi = 0; gi < groups.length; gi++) {
      const g = groups[gi]!;
      const r = replies[gi]!;
      for (let j = 0; j < g.length; j++) {
        const buf = r[j];
        if (!Buffer.isBuffer(buf)) continue;
        const d = decodeValue(buf, model, dims, now);
        if (d.kind === 'vector') {
          out[g[j]!] = { vector: d.vector, expiresMs: d.expiresMs };
          hits++;
        } else if (d.kind === 'invalid') {
          c.add(ST_REMOTE_INVALID);
        }
      }
    }
    c.add(ST_REMOTE_HITS, hits);
    if (countMisses) c.add(ST_REMOTE_MISSES, n - hits);
    return out;
  }

  // ── writes ─────────────────────────────────────────────────────────────────────────────────

  /** The PX of a value: the entry's own expiry and the tier's ttlMs, whichever is sooner (0: none). */
  private px(expiresAt: number, now: number): number {
    const own = expiresAt === 0 ? 0 : Math.max(1, Math.ceil(expiresAt - now));
    const tier = this.settings.ttlMs;
    if (own === 0) return tier;
    return tier === 0 ? own : Math.min(own, tier);
  }

  /** A set, written behind: queued now, sent with the next batch. */
  enqueueSet(
    k: Int32Array,
    ko: number,
    model: string,
    v: Float32Array,
    stamp: number,
    expiresAt: number,
  ): void {
    this.push({
      key: this.keyOf(k, ko, model),
      value: encodeValue(model, v, stamp, expiresAt),
      px: this.px(expiresAt, Date.now()),
    });
  }

  /** A delete, written behind as a tombstone that a late write of an older copy cannot pass. */
  enqueueDelete(k: Int32Array, ko: number, model: string, stamp: number): void {
    this.push({ key: this.keyOf(k, ko, model), value: encodeValue(model, null, stamp, 0), px: TOMBSTONE_MS });
  }

  private push(w: Write): void {
    if (this.off) return;
    if (this.queue.length >= QUEUE_MAX) {
      this.queue.shift();
      this.countError();
    }
    this.queue.push(w);
    if (this.draining === null) this.draining = this.drain();
  }

  /** Sends the queue in batches, each in one tick; a failed batch is counted and dropped. */
  private async drain(): Promise<void> {
    try {
      await new Promise<void>((resolve) => setImmediate(resolve)); // gather the caller's burst
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, WRITE_BATCH);
        await this.writeNow(batch);
      }
    } finally {
      this.draining = null;
      if (this.queue.length > 0) this.draining = this.drain();
    }
  }

  /** Writes `batch` now (getOrCompute's results, awaited); false if Redis did not take them. */
  async writeNow(batch: readonly Write[]): Promise<boolean> {
    if (batch.length === 0) return true;
    if (!(await this.usable())) return false;
    const r = await this.link.call(
      () => Promise.all([this.keepSecret(), ...batch.map((w) => this.conditionalSet(w))]),
      this.settings.timeoutMs * WRITE_TIMEOUT_FACTOR,
    );
    if (r === FAILED) return false;
    if (!this.secretHeld(r[0])) return false;
    let taken = 0;
    for (let i = 1; i < r.length; i++) if (Number(r[i]) === 1) taken++;
    this.store!.counters.add(ST_REMOTE_WRITES, taken); // a copy older than Redis's is not a write
    return true;
  }

  /** The writes for vectors computed here (getOrCompute), to send with writeNow. */
  writesOf(
    keys: Int32Array,
    at: readonly number[],
    model: string,
    vectors: readonly Float32Array[],
    stamp: number,
    expiresAt: number,
  ): Write[] {
    const now = Date.now();
    return at.map((p, i) => ({
      key: this.keyOf(keys, p * 4, model),
      value: encodeValue(model, vectors[i]!, stamp, expiresAt),
      px: this.px(expiresAt, now),
    }));
  }

  /**
   * Sent with every write batch (stored-secret mode): puts the fleet's secret back if Redis lost
   * it (SET NX), and answers the one that was there (GET), so a write never lands under a
   * prefix whose secret changed — before another cache opening after the loss makes a new one.
   */
  private keepSecret(): Promise<unknown> {
    if (this.settings.derived !== null) return Promise.resolve(null);
    const ours = Buffer.from(this.store!.secret());
    return this.link.send(this.names.secret, false, ['SET', this.names.secret, ours, 'NX', 'GET']);
  }

  /** Whether keepSecret()'s answer says the secret is ours (or was just put back); else the tier goes off. */
  private secretHeld(reply: unknown): boolean {
    if (reply === null || reply === undefined) return true;
    const ours = this.store!.secret();
    if (Buffer.isBuffer(reply) && Buffer.compare(reply, Buffer.from(ours)) === 0) return true;
    this.goOff(Buffer.isBuffer(reply) ? new Uint8Array(reply) : new Uint8Array(0), ours);
    return false;
  }

  private goOff(fleet: Uint8Array, ours: Uint8Array): void {
    if (this.off) return;
    this.off = true;
    this.queue = [];
    console.warn(
      `embedcache: remote tier ${this.names.prefix}: Redis holds another key secret (${fingerprint(fleet)}) than this cache (${fingerprint(ours)}): the cache opened while Redis was unreachable, or Redis lost its data and a cache that opened since made a new secret. The remote tier stays off until this cache is reopened; local tiers serve as usual. Pass remote.secret to make the fleet's secret independent of Redis's data.`,
    );
  }

  private async conditionalSet(w: Write): Promise<unknown> {
    const args = [w.key, w.value, String(w.px)];
    try {
      return await this.link.send(w.key, false, ['EVALSHA', CONDITIONAL_SET_SHA, '1', ...args]);
    } catch (err) {
      if (!String((err as Error)?.message).includes('NOSCRIPT')) throw err;
      return this.link.send(w.key, false, ['EVAL', CONDITIONAL_SET, '1', ...args]);
    }
  }

  /** Resolves once every write queued so far was sent (taken or failed) and every bump too. */
  async flush(): Promise<void> {
    while (this.draining !== null) await this.draining;
    await this.gens?.settled();
  }

  // ── fleet single-flight (getOrCompute) ────────────────────────────────────────────────────

  /**
   * Tries to lease each value key for `ms`: true where this machine now holds the lease, false
   * where another does. null when Redis is unavailable (no fleet coordination: compute locally).
   */
  async lease(valueKeys: readonly string[], ms: number): Promise<boolean[] | null> {
    if (valueKeys.length === 0) return [];
    if (!(await this.usable())) return null;
    const px = String(Math.max(1, Math.ceil(ms)));
    const r = await this.link.call(() =>
      Promise.all(
        valueKeys.map((k) => {
          const l = this.names.lease(k);
          return this.link.send(l, false, ['SET', l, this.token, 'NX', 'PX', px]);
        }),
      ),
    );
    if (r === FAILED) return null;
    return r.map((x) => x !== null && String(x) === 'OK');
  }

  /** Extends leases still held (PEXPIRE; a lease someone else took meanwhile is extended too: harmless). */
  async renew(valueKeys: readonly string[], ms: number): Promise<void> {
    const px = String(Math.max(1, Math.ceil(ms)));
    await this.link.call(() =>
      Promise.all(
        valueKeys.map((k) =>
          this.link.send(this.names.lease(k), false, ['PEXPIRE', this.names.lease(k), px]),
        ),
      ),
    );
  }

  /**
   * Ends leases. A lease that expired and was taken by another machine is ended too: at worst
   * that text is embedded once more, and by then its value is in Redis for the next reader.
   */
  async release(valueKeys: readonly string[]): Promise<void> {
    if (valueKeys.length === 0) return;
    await this.link.call(() =>
      Promise.all(
        valueKeys.map((k) => this.link.send(this.names.lease(k), false, ['DEL', this.names.lease(k)])),
      ),
    );
  }

  // ── generations ───────────────────────────────────────────────────────────────────────────

  invalidateModel(model: string): void {
    if (this.off) return;
    void this.generations.bumpModel(model).then(() => this.sweepSoon());
  }

  clear(): void {
    if (this.off) return;
    void this.generations.bumpEpoch().then(() => this.sweepSoon());
  }

  /** Removes keys of older generations in the background (one sweep at a time). */
  private sweepSoon(): void {
    if (this.sweeping !== null || this.closing) return;
    this.sweeping = sweep(this.link, this.names, this.generations.lastRead(), () => this.closing).finally(
      () => {
        this.sweeping = null;
      },
    );
  }

  async close(): Promise<void> {
    this.closing = true; // a sweep in progress stops at its next page
    this.gens?.close();
    if (this.gens !== null) await this.flush();
    await this.sweeping;
    await this.link.close();
  }
}

/** Positions grouped by hash-tag bucket (indexes into `at`): one command per group on a cluster. */
function groupByBucket(keys: Int32Array, at: readonly number[]): number[][] {
  const byBucket = new Map<number, number[]>();
  for (let i = 0; i < at.length; i++) {
    const b = bucketOf(keys, at[i]! * 4);
    let g = byBucket.get(b);
    if (g === undefined) byBucket.set(b, (g = []));
    g.push(i);
  }
  return [...byBucket.values()];
}

/**
 * The fleet's key secret. With a user secret (remote.secret): derived from it and the prefix,
 * never stored. Otherwise the one stored at P:secret, created (SET NX) from `proposed` by the
 * first cache to connect. Undefined when Redis could not be asked.
 */
export async function fleetSecret(
  link: RedisLink,
  names: KeyNames,
  proposed: Uint8Array,
  derivedFrom: Uint8Array | null,
): Promise<Uint8Array | undefined> {
  if (derivedFrom !== null) return deriveSecret(derivedFrom, names.prefix);
  const r = await link.call(async () => {
    await link.send(names.secret, false, ['SET', names.secret, Buffer.from(proposed), 'NX']);
    return link.send(names.secret, true, ['GET', names.secret]);
  });
  if (r === FAILED || !Buffer.isBuffer(r)) return undefined;
  // A value of another length is not a secret of ours: it is returned as is, so that it differs
  // from this cache's and the tier goes off, rather than failing (and retrying) forever.
  return new Uint8Array(r);
}

export function deriveSecret(userSecret: Uint8Array, prefix: string): Uint8Array {
  return new Uint8Array(
    createHmac('sha256', userSecret).update(`embedcache fleet key secret v1\0${prefix}`).digest(),
  );
}

/** A short, non-secret name of a key secret for error messages (first 8 hex of its SHA-256). */
export function fingerprint(secret: Uint8Array): string {
  return createHash('sha256').update(secret).digest('hex').slice(0, 8);
}
