/**
 * Prometheus metrics for prom-client (`embedcache/metrics`): every scrape reads `cache.stats()`
 * (counters of every attached thread) and exposes it.
 *
 *   import { Registry } from 'prom-client';
 *   import { registerEmbedcacheMetrics } from 'embedcache/metrics';
 *   const registry = new Registry();
 *   const metrics = registerEmbedcacheMetrics(cache, { registry, labels: { cache: 'docs' } });
 *   // GET /metrics: res.setHeader('Content-Type', registry.contentType); res.end(await registry.metrics())
 *   metrics.unregister();
 *
 * How values reach prom-client: each series is a plain prom-client `Counter` or `Gauge` created
 * with a `collect()` callback, which prom-client calls on every `registry.metrics()` (and
 * `getMetricsAsJSON()`) before it reads the values. A gauge's collect `set()`s the snapshot's
 * value; a counter has no `set()`, so its collect `reset()`s it and `inc()`s it by the snapshot's
 * value — the documented way to mirror a counter kept elsewhere. prom-client has no public custom
 * collector type (`registerMetric` takes its own metric classes), so this is the clean route, and
 * the series keep their real TYPE (`counter` for every `_total`).
 *
 * One scrape, one snapshot: the collects of one `metrics()` call run in one synchronous pass, so
 * the first one takes `stats()` and the rest reuse it (dropped in a microtask); every series of a
 * scrape agrees with the others.
 *
 * Counters never go backwards. Each exported counter is accumulated from the snapshots: it adds
 * (new − last) taken as a 32-bit signed difference when that is ≥ 0, and holds otherwise. This
 * (a) carries the counters across the wrap of the cache's int32 words (each thread's row wraps
 * after 2^32 operations, which a raw mirror would show as a reset), and (b) keeps the derived
 * counters monotonic: `hits{tier="memory"}` = hits − spill.hits and `embeds_saved` = texts −
 * embedded are differences of counters bumped a moment apart, which a scrape can see
 * half-done (a dip of the in-flight operations). A dip is held until the true value passes it.
 * It assumes fewer than 2^31 increments of a counter between two scrapes.
 *
 * Several caches can share one registry and prefix when each has its own `labels` (the same
 * label names): their series are samples of the same metrics. A closed cache (or one whose
 * stats() throws) exports only `embedcache_up 0` until it is unregistered; a scrape never throws.
 *
 * prom-client is an optional peer dependency: only this module imports it.
 */
import {
  Counter,
  Gauge,
  register as globalRegistry,
  type OpenMetricsContentType,
  type PrometheusContentType,
  type Registry,
} from 'prom-client';
import type { CacheStats } from '../cache.js';

/** What the metrics read: an EmbeddingCache (open() or attach()), or anything with its stats(). */
export interface MetricsSource {
  stats(): CacheStats;
}

export type MetricsRegistry = Registry<PrometheusContentType> | Registry<OpenMetricsContentType>;

export interface EmbedcacheMetricsOptions {
  /** Where the series are registered. Default: prom-client's global `register`. */
  registry?: MetricsRegistry;
  /** Prefix of every metric name. Default: 'embedcache_'. */
  prefix?: string;
  /**
   * Constant labels on every series of this cache (e.g. `{ cache: 'docs' }`), to tell several
   * caches apart in one registry. Names may not be `tier` or `state`.
   */
  labels?: Record<string, string>;
}

export interface EmbedcacheMetrics {
  /** Removes this cache's series (and the metrics, once no other cache uses them). Idempotent. */
  unregister(): void;
}

/** What a cache may lack: series that need one are registered only while some cache has it. */
type Feature = 'spill' | 'remote' | 'maxEntries';
/** One sample of a series: the value of its `tier`/`state` label ('' when it has none) and its value. */
type Sample = readonly [label: string, value: number];

interface SeriesDef {
  /** Name without the prefix. */
  readonly name: string;
  readonly help: string;
  readonly kind: 'counter' | 'gauge';
  readonly label?: 'tier' | 'state';
  /** Registered only while some registered cache has one of these. */
  readonly needs?: readonly Feature[];
  /** The samples of one snapshot. */
  read(s: CacheStats): readonly Sample[];
}

const one = (value: number): Sample[] => [['', value]];

/** Every series, in exposition order. README "### Metrics" lists the same. */
const SERIES: readonly SeriesDef[] = [
  {
    name: 'up',
    help: '1 while the cache answers stats(), 0 once it is closed (then no other series of it is exported).',
    kind: 'gauge',
    read: () => one(1),
  },
  {
    name: 'hits_total',
    help:
      'Lookups answered, by the tier that answered. memory: stats().hits - spill.hits (all hits without a spill tier); ' +
      'disk: spill.hits (memory misses found on disk); remote: remote.hits (local misses of getOrCompute/fetchMany found in Redis).',
    kind: 'counter',
    label: 'tier',
    read: (s) => [
      ['memory', s.hits - (s.spill?.hits ?? 0)],
      ...(s.spill ? [['disk', s.spill.hits] as const] : []),
      ...(s.remote ? [['remote', s.remote.hits] as const] : []),
    ],
  },
  {
    name: 'misses_total',
    help:
      'Lookups a tier could not answer. memory: stats().misses + spill.hits (every lookup that went past memory); ' +
      'disk: spill.misses; remote: remote.misses. stats().misses (missed by memory and disk) = misses{memory} - hits{disk}.',
    kind: 'counter',
    label: 'tier',
    read: (s) => [
      ['memory', s.misses + (s.spill?.hits ?? 0)],
      ...(s.spill ? [['disk', s.spill.misses] as const] : []),
      ...(s.remote ? [['remote', s.remote.misses] as const] : []),
    ],
  },
  {
    name: 'sets_total',
    help: 'Vectors stored by set/setMany/getOrCompute (stats().sets; promotions from disk or Redis not included).',
    kind: 'counter',
    read: (s) => one(s.sets),
  },
  {
    name: 'evictions_total',
    help: 'Live entries pushed out of memory to make room for maxEntries or maxBytes (stats().evictions).',
    kind: 'counter',
    read: (s) => one(s.evictions),
  },
  {
    name: 'expirations_total',
    help: 'Entries found expired by a lookup or by eviction and reclaimed (stats().expirations).',
    kind: 'counter',
    read: (s) => one(s.expirations),
  },
  {
    name: 'invalidations_total',
    help: 'Entries dropped by invalidateModel() (stats().invalidations).',
    kind: 'counter',
    read: (s) => one(s.invalidations),
  },
  {
    name: 'deletes_total',
    help: 'Live entries removed by delete() (stats().deletes).',
    kind: 'counter',
    read: (s) => one(s.deletes),
  },
  {
    name: 'lock_takeovers_total',
    help: 'Locks of dead writers taken over by another thread (stats().lockTakeovers).',
    kind: 'counter',
    read: (s) => one(s.lockTakeovers),
  },
  {
    name: 'entries',
    help: 'Entries held. memory: stats().entries (expired ones not yet reclaimed included); disk: spill.entries (records in the file, tombstones and unswept generations included).',
    kind: 'gauge',
    label: 'tier',
    read: (s) => [['memory', s.entries], ...(s.spill ? [['disk', s.spill.entries] as const] : [])],
  },
  {
    name: 'max_entries',
    help: 'The maxEntries bound of memory (stats().maxEntries); absent when only maxBytes bounds it.',
    kind: 'gauge',
    label: 'tier',
    needs: ['maxEntries'],
    read: (s) => (s.maxEntries === null ? [] : [['memory', s.maxEntries]]),
  },
  {
    name: 'bytes',
    help: 'Bytes used. memory: shared memory allocated (stats().memoryBytes: index, metadata, vectors); disk: pages of records and indexes in the spill file (spill.bytes).',
    kind: 'gauge',
    label: 'tier',
    read: (s) => [['memory', s.memoryBytes], ...(s.spill ? [['disk', s.spill.bytes] as const] : [])],
  },
  {
    name: 'max_bytes',
    help: 'The maxBytes bound of memory (stats().maxBytes).',
    kind: 'gauge',
    label: 'tier',
    read: (s) => [['memory', s.maxBytes]],
  },
  {
    name: 'writes_total',
    help: 'Records written behind to a lower tier. disk: spill.writes (committed); remote: remote.writes (values Redis took: sets, getOrCompute results, tombstones).',
    kind: 'counter',
    label: 'tier',
    needs: ['spill', 'remote'],
    read: (s) => [
      ...(s.spill ? [['disk', s.spill.writes] as const] : []),
      ...(s.remote ? [['remote', s.remote.writes] as const] : []),
    ],
  },
  {
    name: 'errors_total',
    help: 'Failures of a lower tier, never thrown to callers. disk: spill.errors (failed writes per record, failed or corrupt reads); remote: remote.errors (failed or timed-out calls, calls refused while the breaker was open).',
    kind: 'counter',
    label: 'tier',
    needs: ['spill', 'remote'],
    read: (s) => [
      ...(s.spill ? [['disk', s.spill.errors] as const] : []),
      ...(s.remote ? [['remote', s.remote.errors] as const] : []),
    ],
  },
  {
    name: 'spill_superseded_total',
    help: 'Queued disk writes and deletes dropped because a later operation on their key reached the disk first (spill.superseded).',
    kind: 'counter',
    needs: ['spill'],
    read: (s) => (s.spill ? one(s.spill.superseded) : []),
  },
  {
    name: 'remote_lease_waits_total',
    help: 'Texts getOrCompute waited for while another machine held their lease (remote.leaseWaits).',
    kind: 'counter',
    needs: ['remote'],
    read: (s) => (s.remote ? one(s.remote.leaseWaits) : []),
  },
  {
    name: 'remote_invalid_total',
    help: 'Values under the prefix refused by the header check: foreign, corrupt, another dimension (remote.invalid).',
    kind: 'counter',
    needs: ['remote'],
    read: (s) => (s.remote ? one(s.remote.invalid) : []),
  },
  {
    name: 'remote_state',
    help: "This thread's Redis connection (remote.state): 1 on the current state. up; down while the breaker is open; off when Redis holds another fleet's key secret.",
    kind: 'gauge',
    label: 'state',
    needs: ['remote'],
    read: (s) =>
      s.remote
        ? (['up', 'down', 'off'] as const).map((st) => [st, s.remote!.state === st ? 1 : 0] as const)
        : [],
  },
  {
    name: 'compute_texts_total',
    help: 'Texts asked of getOrCompute (compute.texts).',
    kind: 'counter',
    read: (s) => one(s.compute.texts),
  },
  {
    name: 'embeds_total',
    help: 'Texts getOrCompute sent to embed() (compute.embedded).',
    kind: 'counter',
    read: (s) => one(s.compute.embedded),
  },
  {
    name: 'embeds_saved_total',
    help: 'Texts getOrCompute answered without embed(): hits in any tier, duplicates in a call, texts another caller or machine was embedding (compute.saved = texts - embedded).',
    kind: 'counter',
    read: (s) => one(s.compute.saved),
  },
];

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const RESERVED = new Set(['tier', 'state']);

/** A counter accumulated from snapshots (see the file comment). */
interface Accumulated {
  /** The last snapshot value taken in. */
  base: number;
  /** The exported value. */
  total: number;
}

/** One registered cache. */
class Source {
  readonly features: ReadonlySet<Feature>;
  /** This scrape's snapshot: undefined before it is taken, null when stats() threw (closed). */
  private snap: CacheStats | null | undefined = undefined;
  private readonly counters = new Map<string, Accumulated>();

  constructor(
    readonly cache: MetricsSource,
    readonly labels: Readonly<Record<string, string>>,
    first: CacheStats,
  ) {
    const features = new Set<Feature>();
    if (first.spill !== undefined) features.add('spill');
    if (first.remote !== undefined) features.add('remote');
    if (first.maxEntries !== null) features.add('maxEntries');
    this.features = features;
  }

  snapshot(): CacheStats | null {
    if (this.snap === undefined) {
      try {
        this.snap = this.cache.stats();
      } catch {
        this.snap = null; // closed: a scrape must not fail
      }
      queueMicrotask(() => {
        this.snap = undefined;
      });
    }
    return this.snap;
  }

  /** The exported value of counter `key` given its snapshot value `raw`. */
  advance(key: string, raw: number): number {
    const acc = this.counters.get(key);
    if (acc === undefined) {
      const v = Math.max(raw, 0);
      this.counters.set(key, { base: v, total: v });
      return v;
    }
    const delta = (raw - acc.base) | 0; // the difference modulo 2^32, signed
    if (delta >= 0) {
      acc.total += delta;
      acc.base = raw;
    }
    return acc.total;
  }
}

/** The caches registered in one registry under one prefix, and the metrics they share. */
class Group {
  readonly sources = new Set<Source>();
  /** Metrics created, by full name. */
  private readonly metrics = new Map<string, Counter<string> | Gauge<string>>();

  constructor(
    readonly registry: MetricsRegistry,
    readonly prefix: string,
    readonly labelNames: readonly string[],
  ) {}

  /** The series that `sources` need registered. */
  needed(sources: Iterable<Source>): SeriesDef[] {
    const features = new Set<Feature>();
    let any = false;
    for (const s of sources) {
      any = true;
      for (const f of s.features) features.add(f);
    }
    if (!any) return [];
    return SERIES.filter((d) => d.needs === undefined || d.needs.some((f) => features.has(f)));
  }

  /** Throws if a name `sources` need is taken in the registry by a metric that is not ours. */
  checkFree(sources: Iterable<Source>): void {
    for (const def of this.needed(sources)) {
      const name = this.prefix + def.name;
      const there = this.registry.getSingleMetric(name);
      if (there !== undefined && there !== this.metrics.get(name)) {
        throw new Error(
          `registerEmbedcacheMetrics(): the registry already has a metric named ${name} that embedcache did not register. Pass another prefix or registry.`,
        );
      }
    }
  }

  /** Registers the metrics the current sources need and removes the others. */
  sync(): void {
    const needed = new Set(this.needed(this.sources));
    for (const def of SERIES) {
      const name = this.prefix + def.name;
      const mine = this.metrics.get(name);
      if (needed.has(def)) {
        const metric = mine ?? this.create(def);
        // Registered again if someone cleared the registry meanwhile.
        if (this.registry.getSingleMetric(name) !== metric) this.registry.registerMetric(metric);
      } else if (mine !== undefined) {
        if (this.registry.getSingleMetric(name) === mine) this.registry.removeSingleMetric(name);
        this.metrics.delete(name);
      }
    }
  }

  private create(def: SeriesDef): Counter<string> | Gauge<string> {
    const name = this.prefix + def.name;
    const labelNames = def.label === undefined ? [...this.labelNames] : [...this.labelNames, def.label];
    const sources = this.sources;
    const labelsOf = (src: Source, v: string): Record<string, string> =>
      def.label === undefined ? src.labels : { ...src.labels, [def.label]: v };
    let metric: Counter<string> | Gauge<string>;
    if (def.kind === 'counter') {
      const counter: Counter<string> = new Counter({
        name,
        help: def.help,
        labelNames,
        registers: [],
        collect() {
          counter.reset();
          if (labelNames.length === 0) counter.remove({}); // reset() leaves a 0 sample when unlabelled
          for (const src of sources) {
            const s = src.snapshot();
            if (s === null) continue;
            for (const [v, raw] of def.read(s))
              counter.inc(labelsOf(src, v), src.advance(def.name + '\0' + v, raw));
          }
        },
      });
      metric = counter;
    } else {
      const gauge: Gauge<string> = new Gauge({
        name,
        help: def.help,
        labelNames,
        registers: [],
        collect() {
          gauge.reset();
          if (labelNames.length === 0) gauge.remove({});
          for (const src of sources) {
            const s = src.snapshot();
            if (s === null) {
              if (def.name === 'up') gauge.set(src.labels, 0);
              continue;
            }
            for (const [v, value] of def.read(s)) gauge.set(labelsOf(src, v), value);
          }
        },
      });
      metric = gauge;
    }
    this.metrics.set(name, metric);
    return metric;
  }
}

const groups = new WeakMap<MetricsRegistry, Map<string, Group>>();

function checkLabels(labels: unknown): Record<string, string> {
  if (labels === undefined) return {};
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) {
    throw new TypeError(
      "options.labels must be an object of label names to strings, like { cache: 'docs' }.",
    );
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels)) {
    if (!LABEL.test(k) || k.startsWith('__') || RESERVED.has(k)) {
      throw new TypeError(
        `options.labels: ${JSON.stringify(k)} is not a usable label name (letters, digits and _, not starting with a digit or __; tier and state are embedcache's own).`,
      );
    }
    if (typeof v !== 'string') throw new TypeError(`options.labels.${k} must be a string, got ${typeof v}.`);
    out[k] = v;
  }
  return out;
}

/**
 * Registers metrics of `cache` in a prom-client registry: each scrape reads cache.stats(). The
 * tiers are those of the cache now (spill and remote series exist only with that tier).
 * Throws if the cache is already closed, on bad options, or if the names are taken.
 */
export function registerEmbedcacheMetrics(
  cache: MetricsSource,
  options: EmbedcacheMetricsOptions = {},
): EmbedcacheMetrics {
  if (typeof (cache as Partial<MetricsSource> | null)?.stats !== 'function') {
    throw new TypeError(
      'registerEmbedcacheMetrics(): cache must be an EmbeddingCache (or have its stats()).',
    );
  }
  if (typeof options !== 'object' || options === null) {
    throw new TypeError(
      'registerEmbedcacheMetrics(): options must be an object like { registry, prefix, labels }.',
    );
  }
  const registry = options.registry ?? globalRegistry;
  const prefix = options.prefix ?? 'embedcache_';
  if (typeof prefix !== 'string' || (prefix !== '' && !NAME.test(prefix))) {
    throw new TypeError(
      `options.prefix must be letters, digits, _ and : (not starting with a digit), like 'embedcache_', got ${JSON.stringify(prefix)}.`,
    );
  }
  const labels = checkLabels(options.labels);
  const labelNames = Object.keys(labels).sort();

  let byPrefix = groups.get(registry);
  if (byPrefix === undefined) groups.set(registry, (byPrefix = new Map()));
  let group = byPrefix.get(prefix);
  if (group === undefined) {
    group = new Group(registry, prefix, labelNames);
  } else {
    if (group.labelNames.join(',') !== labelNames.join(',')) {
      throw new TypeError(
        `registerEmbedcacheMetrics(): caches sharing a registry and prefix need the same label names: the others have [${group.labelNames.join(', ')}], this one [${labelNames.join(', ')}].`,
      );
    }
    for (const other of group.sources) {
      if (labelNames.every((k) => other.labels[k] === labels[k])) {
        throw new Error(
          `registerEmbedcacheMetrics(): a cache is already registered in this registry with prefix ${JSON.stringify(prefix)} and labels ${JSON.stringify(labels)}; give each cache distinct labels.`,
        );
      }
    }
  }

  const source = new Source(cache, labels, cache.stats()); // throws ERR_CLOSED for a closed cache
  group.checkFree([...group.sources, source]);
  group.sources.add(source);
  byPrefix.set(prefix, group);
  group.sync();

  const g = group;
  let registered = true;
  return {
    unregister(): void {
      if (!registered) return;
      registered = false;
      g.sources.delete(source);
      g.sync();
      if (g.sources.size === 0 && byPrefix.get(prefix) === g) byPrefix.delete(prefix);
    },
  };
}
