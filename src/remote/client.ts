/**
 * The one module that talks to Redis (node-redis): connection, per-call timeout, circuit breaker,
 * and the few commands the remote tier sends. Nothing outside src/remote/ imports `redis`, and
 * this module loads it only when a remote tier is configured.
 *
 * Why raw commands (sendCommand) and not the typed helpers: one code path serves a single node
 * and a cluster (a cluster routes a command by its first key; every multi-key command here keeps
 * its keys in one hash-tag bucket, so one slot), and replies come back as Buffers through the
 * type mapping without copying through strings. Commands issued in the same tick are written to
 * the socket together (node-redis pipelines automatically): a batch is one round trip per node.
 *
 * Faults never throw out of here. Every call resolves to its reply or to FAILED: on an error, on
 * a timeout (timeoutMs), or at once while the breaker is open. The breaker opens after
 * BREAKER_FAILURES failures in a row, stays open for a cooldown that doubles on each failed
 * probe (1 s up to 30 s), then lets one call through: its success closes it.
 */
import type { RedisClientType, RedisClusterType } from 'redis';
import { EmbeddingCacheError } from '../errors.js';

/** What a failed, timed-out or refused call resolves to. */
export const FAILED: unique symbol = Symbol('FAILED');
export type Failed = typeof FAILED;

export type Reply = Buffer | string | number | null | Reply[];

const BREAKER_FAILURES = 3;
const BREAKER_OPEN = new Error('the circuit breaker is open (Redis failed repeatedly)');
const COOLDOWN_MIN_MS = 1000;
const COOLDOWN_MAX_MS = 30_000;

/** How attached threads reconnect: plain, structured-cloneable connection settings. */
export interface ConnectSpec {
  readonly cluster: boolean;
  /** Client options (url, socket, username, password, database) or cluster options (rootNodes, defaults), functions removed. */
  readonly options: Record<string, unknown>;
}

type AnyClient = RedisClientType | RedisClusterType;

export interface Transport {
  send(firstKey: string | undefined, readonly: boolean, args: (string | Buffer)[]): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<void>;
  /** Each master's connection (one, for a single node): SCAN runs per node. */
  nodes(): Promise<Transport[]>;
  /** Ends what this transport opened or registered (its subscription), within `grace` ms. */
  close(grace: number): Promise<void>;
}

let redisModule: typeof import('redis') | undefined;
async function loadRedis(): Promise<typeof import('redis')> {
  redisModule ??= await import('redis');
  return redisModule;
}

/** Keeps what structured clone can carry: primitives, arrays, plain objects, byte arrays. */
function cloneable(value: unknown, depth = 0): unknown {
  if (depth > 6 || typeof value === 'function' || typeof value === 'symbol') return undefined;
  if (value === null || typeof value !== 'object') return value;
  if (ArrayBuffer.isView(value)) return value;
  if (Array.isArray(value)) return value.map((v) => cloneable(v, depth + 1));
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const c = cloneable(v, depth + 1);
    if (c !== undefined) out[k] = c;
  }
  return out;
}

/** Connection settings for attached threads, from a URL or from a client the user created. */
export function connectSpec(url: string | undefined, client: unknown): ConnectSpec {
  if (client === undefined) return { cluster: false, options: { url } };
  const c = client as { options?: unknown; _options?: unknown; masters?: unknown };
  const isCluster = Array.isArray(c.masters) || (typeof c.masters === 'object' && c.masters !== null);
  const options = (cloneable(c.options ?? c._options) ?? {}) as Record<string, unknown>;
  return { cluster: isCluster, options };
}

/** Whether `c` looks like a node-redis client or cluster (what remote.client must be). */
export function isRedisClient(c: unknown): boolean {
  return (
    typeof c === 'object' &&
    c !== null &&
    typeof (c as { sendCommand?: unknown }).sendCommand === 'function' &&
    typeof (c as { duplicate?: unknown }).duplicate === 'function'
  );
}

export interface LinkOptions {
  timeoutMs: number;
  /** Called once per failed call (error, timeout). */
  onError: (err: unknown) => void;
}

export class RedisLink {
  /** Failures in a row (the breaker opens at BREAKER_FAILURES). */
  failures = 0;
  private openUntil = 0;
  private cooldown = COOLDOWN_MIN_MS;
  private probing = false;
  private subscriber: Transport | null = null;

  /** Whether this is a cluster: multi-key commands must then keep to one slot. */
  readonly isCluster: boolean;

  private constructor(
    private readonly transport: Transport,
    private readonly owned: AnyClient | null,
    private readonly opts: LinkOptions,
    isCluster: boolean,
    private readonly detach: () => void,
  ) {
    this.isCluster = isCluster;
  }

  /**
   * Connects from settings (a client this link owns and closes) or wraps a client the user made
   * (never closed here). A connection that fails leaves the link down, not an exception: the
   * client keeps reconnecting and the breaker lets a call through now and then.
   */
  static async open(spec: ConnectSpec, given: unknown, opts: LinkOptions): Promise<RedisLink> {
    const redis = await loadRedis();
    let client: AnyClient;
    let owned: AnyClient | null = null;
    if (given !== undefined) {
      client = given as AnyClient;
    } else {
      const base = { ...spec.options, disableOfflineQueue: true };
      client = spec.cluster
        ? (redis.createCluster({
            ...(base as object),
            defaults: {
              ...((spec.options.defaults as object) ?? {}),
              disableOfflineQueue: true,
              socket: { connectTimeout: Math.max(1000, opts.timeoutMs), ...reconnect() },
            },
          } as unknown as Parameters<typeof redis.createCluster>[0]) as unknown as AnyClient)
        : (redis.createClient({
            ...(base as object),
            socket: {
              ...((spec.options.socket as object) ?? {}),
              connectTimeout: Math.max(1000, opts.timeoutMs),
              ...reconnect(),
            },
          }) as unknown as AnyClient);
      owned = client;
    }
    // An 'error' event without a listener would end the process; every fault is counted instead.
    // (Removed again at close: the client may be the caller's.)
    const emitter = client as unknown as NodeJS.EventEmitter;
    const quiet = (): void => {};
    emitter.on('error', quiet);
    const isCluster = (client as { masters?: unknown }).masters !== undefined;
    const transport = transportOf(client, redis.RESP_TYPES.BLOB_STRING);
    const link = new RedisLink(transport, owned, opts, isCluster, () =>
      emitter.removeListener?.('error', quiet),
    );
    if (!(client as { isOpen?: boolean }).isOpen) {
      // A connection gets longer than a command (a TLS handshake, a distant Redis): opening
      // without Redis's key secret would keep this cache off the fleet for its life. A refused
      // connection ends the wait at once (its first error); a failure counts as an error but does
      // not open the breaker: node-redis goes on reconnecting.
      let onError: (e: unknown) => void = () => {};
      const refused = new Promise<never>((_, reject) => {
        onError = reject;
        emitter.once('error', onError);
      });
      refused.catch(() => {});
      await link.call(
        () => Promise.race([(client as { connect(): Promise<unknown> }).connect(), refused]),
        connectWaitMs(opts.timeoutMs),
      );
      emitter.removeListener?.('error', onError);
      link.failures = 0;
    }
    return link;
  }

  /** 'up' unless the breaker is open. */
  state(): 'up' | 'down' {
    return this.failures >= BREAKER_FAILURES ? 'down' : 'up';
  }

  /** Runs fn under the timeout and the breaker; FAILED on any fault (counted once). */
  async call<T>(fn: () => Promise<T>, timeoutMs = this.opts.timeoutMs): Promise<T | Failed> {
    let probe = false;
    if (this.failures >= BREAKER_FAILURES) {
      if (Date.now() < this.openUntil || this.probing) {
        this.opts.onError(BREAKER_OPEN); // refused while the breaker is open: counted too
        return FAILED;
      }
      this.probing = probe = true; // half-open: this call is the probe
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        fn(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(new EmbeddingCacheError('ERR_TIMEOUT', `Redis did not answer within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
      this.failures = 0;
      this.cooldown = COOLDOWN_MIN_MS;
      return result;
    } catch (err) {
      this.opts.onError(err);
      if (++this.failures >= BREAKER_FAILURES) {
        this.openUntil = Date.now() + this.cooldown;
        if (probe) this.cooldown = Math.min(COOLDOWN_MAX_MS, this.cooldown * 2);
      }
      return FAILED;
    } finally {
      if (probe) this.probing = false;
      clearTimeout(timer);
    }
  }

  /** One raw command routed by its first key. */
  send(firstKey: string | undefined, readonly: boolean, args: (string | Buffer)[]): Promise<unknown> {
    return this.transport.send(firstKey, readonly, args);
  }

  /** Subscribes (on a connection of its own) to `channel`; false if that failed. */
  async subscribe(channel: string, listener: (message: string) => void): Promise<boolean> {
    if (this.subscriber !== null) return true;
    const r = await this.call(
      () => this.transport.subscribe(channel, listener),
      Math.max(2000, this.opts.timeoutMs),
    );
    if (r === FAILED) return false;
    this.subscriber = this.transport;
    return true;
  }

  /** The connections SCAN runs on: each master of a cluster, or the one node. */
  nodes(): Promise<Transport[]> {
    return this.transport.nodes();
  }

  /**
   * Ends this link: its subscription, its error listener, and the connection if it owns it. A
   * Redis that stopped answering would hold a graceful close forever (node-redis waits for the
   * replies of commands we gave up on), so after a grace period the connection is destroyed.
   */
  async close(): Promise<void> {
    this.detach();
    const grace = Math.max(1000, 2 * this.opts.timeoutMs);
    await this.transport.close(grace);
    if (this.owned !== null) await closeWithin(this.owned, grace);
  }
}

/** How long opening waits for a connection: a few command timeouts, at least 2 s. */
function connectWaitMs(timeoutMs: number): number {
  return Math.max(2000, 4 * timeoutMs);
}

/** close(), or destroy() if it has not finished within `grace` ms. */
async function closeWithin(client: AnyClient | Closable, grace: number): Promise<void> {
  const c = client as Closable;
  let timer: NodeJS.Timeout | undefined;
  const closed = await Promise.race([
    c.close().then(
      () => true,
      () => true,
    ),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), grace);
    }),
  ]);
  clearTimeout(timer);
  if (!closed) {
    try {
      c.destroy();
    } catch {
      // destroyed already
    }
  }
}

interface Closable {
  close(): Promise<unknown>;
  destroy(): void;
}

function reconnect(): { reconnectStrategy: (retries: number) => number } {
  return { reconnectStrategy: (retries) => Math.min(50 * 2 ** Math.min(retries, 6), 2000) };
}

function transportOf(client: AnyClient, blob: number): Transport {
  const typeMapping = { [blob]: Buffer };
  const c = client as unknown as {
    masters?: unknown[];
    sendCommand(...a: unknown[]): Promise<unknown>;
    subscribe(ch: string, l: (m: string) => void): Promise<void>;
    duplicate(): AnyClient;
    nodeClient?(node: unknown): Promise<AnyClient>;
  };
  if (c.masters !== undefined) {
    let subscribed: { channel: string; listener: (m: string) => void } | null = null;
    return {
      send: (firstKey, readonly, args) => c.sendCommand(firstKey, readonly, args, { typeMapping }),
      subscribe: async (channel, listener) => {
        await c.subscribe(channel, listener);
        subscribed = { channel, listener };
      },
      nodes: async () => {
        const out: Transport[] = [];
        for (const m of (client as RedisClusterType).masters)
          out.push(transportOf(await c.nodeClient!(m), blob));
        return out;
      },
      close: async (grace) => {
        // The cluster may be the caller's: take back only our subscription.
        const s = subscribed;
        subscribed = null;
        if (s === null) return;
        const unsubscribe = (
          c as unknown as { unsubscribe(ch: string, l: (m: string) => void): Promise<void> }
        ).unsubscribe(s.channel, s.listener);
        await Promise.race([unsubscribe.catch(() => {}), new Promise((r) => setTimeout(r, grace).unref())]);
      },
    };
  }
  let sub: AnyClient | null = null;
  const self: Transport = {
    send: (_firstKey, _readonly, args) => c.sendCommand(args, { typeMapping }),
    subscribe: async (channel, listener) => {
      if (sub === null) {
        sub = c.duplicate();
        (sub as unknown as NodeJS.EventEmitter).on('error', () => {});
      }
      if (!(sub as { isOpen?: boolean }).isOpen) await (sub as { connect(): Promise<unknown> }).connect();
      await (sub as unknown as typeof c).subscribe(channel, listener);
    },
    nodes: async () => [self],
    close: async (grace) => {
      if (sub !== null) await closeWithin(sub, grace);
      sub = null;
    },
  };
  return self;
}
