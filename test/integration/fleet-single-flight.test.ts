/**
 * Fleet single-flight: getOrCompute() on several machines that share one Redis embeds each
 * unique text once across the fleet (compute/fleet-flight.ts: a lease SET NX PX per text,
 * re-read after leasing, publish before releasing, waiters poll and take over expired leases).
 *
 * A "machine" is a child process (fixtures/fleet-machine.mjs, importing the built package) with
 * its own cache: its own memory and spill tier, the fleet's Redis (a real redis-server,
 * test/support/redis.ts). Every model call of every machine is appended to one shared log file,
 * one line per text, so the test counts embeddings across the fleet.
 *
 * The last two tests run two caches in this process (two machines: separate memory) to pin down
 * one situation each: a lease taken over from a holder that published meanwhile (B's client is
 * held at its lease SET until A has published and released), and a holder whose run of batches
 * lasts longer than leaseMs (its leases must be renewed).
 *
 * Every machine runs with remote.timeoutMs 5 s: a call that times out means "Redis unavailable",
 * and then a text is embedded locally by design, which a loaded test machine must not trigger.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import { afterEach, describe, expect, it } from 'vitest';
import { EmbeddingCache, type RemoteStats } from '../../src/index.js';
import { KeyNames } from '../../src/remote/format.js';
import { useCaches } from '../support/caches.js';
import { rng, vectorFor } from '../support/data.mjs';
import { expectBitExact } from '../support/expect.js';
import { startRedis, type RedisServer } from '../support/redis.js';
import { tempDir } from '../support/temp.js';

const fixture = fileURLToPath(new URL('./fixtures/fleet-machine.mjs', import.meta.url));
const PREFIX = 'fleet';
const DIMS = 64;
const BATCH = 16;
/**
 * remote.timeoutMs of every machine. A Redis call that times out is "Redis unavailable": a lease
 * attempt answers "nobody holds it" and the text is embedded locally, by design. Five seconds
 * keeps a loaded test machine (two cores, other tests running) from turning that into duplicates.
 */
const TIMEOUT_MS = 5000;

// ── machines (child processes) ─────────────────────────────────────────────────────────────

interface MachineConfig {
  name: string;
  url: string;
  prefix: string;
  leaseMs: number;
  texts: string[];
  log: string;
  hangOnCall?: number;
}

interface Summary {
  event: 'done';
  name: string;
  texts: number;
  returned: number;
  bad: number;
  firstBad: number[];
  calls: number;
  embedded: number;
  ms: number;
  remote: RemoteStats;
}

interface Machine {
  readonly name: string;
  readonly child: ChildProcess;
  /** Resolves at {"event":"ready"}: the cache is open. */
  readonly ready: Promise<void>;
  /** Resolves with {"event":"done"}; rejects if the process ends without it. */
  readonly done: Promise<Summary>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The start signal: a line on stdin. */
  go(): void;
  /** What the process printed (stdout and stderr), for failure messages. */
  output(): string;
}

const children = new Set<ChildProcess>();
const servers: RedisServer[] = [];

afterEach(async () => {
  // Nothing outlives a test: machines still running (a failed test) are killed and reaped.
  await Promise.all(
    [...children].map(async (child) => {
      if (child.exitCode === null && child.signalCode === null) {
        const gone = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await gone;
      }
    }),
  );
  children.clear();
  for (const s of servers.splice(0)) await s.stop();
});

async function redisServer(): Promise<RedisServer> {
  const s = await startRedis();
  servers.push(s);
  return s;
}

function startMachine(cfg: MachineConfig): Machine {
  const dir = tempDir();
  const cfgPath = join(dir, 'config.json');
  writeFileSync(
    cfgPath,
    JSON.stringify({
      ...cfg,
      spillPath: join(dir, 'spill'),
      dims: DIMS,
      sleepMs: [20, 50],
      batchSize: BATCH,
      timeoutMs: TIMEOUT_MS,
    }),
  );
  const child = spawn(process.execPath, [fixture, cfgPath], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  child.stderr!.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
  let onReady!: () => void;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  let summary: Summary | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => {
    out += `${line}\n`;
    let msg: { event?: string };
    try {
      msg = JSON.parse(line) as { event?: string };
    } catch {
      return;
    }
    if (msg.event === 'ready') onReady();
    if (msg.event === 'done') summary = msg as Summary;
  });
  const closed = new Promise<void>((resolve) => lines.once('close', resolve));
  const done = Promise.all([exited, closed]).then(([{ code, signal }]) => {
    if (summary !== undefined && code === 0) return summary;
    throw new Error(`machine ${cfg.name} ended (code ${code}, signal ${signal}) without success:\n${out}`);
  });
  done.catch(() => {}); // observed by the test when it matters
  return {
    name: cfg.name,
    child,
    ready: Promise.race([ready, done.then(() => undefined)]),
    done,
    exited,
    go: () => child.stdin!.write('go\n'),
    output: () => out,
  };
}

// ── the shared log ─────────────────────────────────────────────────────────────────────────

interface Embedding {
  machine: string;
  at: number;
  call: number;
  text: string;
}

function readLog(path: string): Embedding[] {
  const out: Embedding[] = [];
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line === '') continue;
    const [machine, at, call, text] = line.split('\t');
    out.push({ machine: machine!, at: Number(at), call: Number(call), text: text! });
  }
  return out;
}

function countBy(log: readonly Embedding[]): Map<string, number> {
  const n = new Map<string, number>();
  for (const e of log) n.set(e.text, (n.get(e.text) ?? 0) + 1);
  return n;
}

function textOf(i: number): string {
  return `fleet text ${i}: a chunk of some document that every machine may see`;
}

function shuffled<T>(items: readonly T[], seed: number): T[] {
  const r = rng(seed);
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('fleet single-flight across machines (child processes, one Redis)', () => {
  it('each unique text is embedded exactly once across the fleet', { timeout: 90_000 }, async () => {
    const redis = await redisServer();
    const log = join(tempDir(), 'embeds.log');
    writeFileSync(log, '');
    // 1,000 unique texts; each machine sees 600 positions: the 400 "hot" texts every machine
    // has, 180 of the other 600 drawn per machine, and 20 repeats of its own texts, in its own order.
    const corpora = [1, 2, 3].map((m) => {
      const cold = shuffled(
        Array.from({ length: 600 }, (_, i) => 400 + i),
        m * 7717,
      ).slice(0, 180);
      const own = [...Array.from({ length: 400 }, (_, i) => i), ...cold];
      const repeats = shuffled(own, m * 31).slice(0, 20);
      return shuffled([...own, ...repeats], m * 1009).map(textOf);
    });
    const union = new Set(corpora.flat());
    expect(corpora.every((c) => c.length === 600)).toBe(true);

    const machines = corpora.map((texts, m) =>
      startMachine({ name: `m${m + 1}`, url: redis.url, prefix: PREFIX, leaseMs: 5000, texts, log }),
    );
    await within(Promise.all(machines.map((m) => m.ready)), 30_000, 'every machine ready');
    for (const m of machines) m.go();
    const summaries = await Promise.all(machines.map((m) => m.done));

    // Every machine got every vector right (checked bit for bit in the machine).
    for (const s of summaries) {
      expect(s, `machine ${s.name}`).toMatchObject({ texts: 600, returned: 600, bad: 0 });
      expect(s.remote.errors, `machine ${s.name}: Redis errors`).toBe(0);
    }
    const embeds = readLog(log);
    const counts = countBy(embeds);
    // Each duplicate with who embedded it, when (ms since the first embedding) and in which call.
    const t0 = Math.min(...embeds.map((e) => e.at));
    const duplicates = [...counts]
      .filter(([, n]) => n > 1)
      .map(([t]) =>
        [
          t.slice(0, t.indexOf(':')),
          ...embeds.filter((e) => e.text === t).map((e) => `${e.machine}@+${e.at - t0}ms#${e.call}`),
        ].join(' '),
      );
    const missing = [...union].filter((t) => !counts.has(t));
    const foreign = [...counts.keys()].filter((t) => !union.has(t));
    expect(duplicates, 'texts embedded more than once across the fleet').toEqual([]);
    expect(missing, 'texts of the union never embedded').toEqual([]);
    expect(foreign).toEqual([]);
    expect(embeds.length).toBe(union.size);
    expect(summaries.reduce((n, s) => n + s.embedded, 0)).toBe(union.size);
    // The machines really overlapped: texts were waited for under another machine's lease.
    const leaseWaits = summaries.reduce((n, s) => n + s.remote.leaseWaits, 0);
    expect(leaseWaits).toBeGreaterThan(0);
    console.log(
      `fleet of 3: ${union.size} unique texts, embedded ${summaries.map((s) => `${s.name}=${s.embedded}`).join(' ')}, ` +
        `leaseWaits ${summaries.map((s) => s.remote.leaseWaits).join('/')}, ` +
        `getOrCompute ms ${summaries.map((s) => s.ms).join('/')}`,
    );
  });

  it(
    'a machine killed with SIGKILL while holding leases: the others take over once they expire',
    { timeout: 90_000 },
    async () => {
      // K starts first and alone, so it leases every text of the corpus (leaseMs 1000). Its first
      // embed call records its batch and hangs: K holds the leases of that batch (being embedded)
      // and of every other text (not started), and renews none of them again. The leases are read
      // from Redis (holder and PTTL, atomically), the two other machines over the same corpus are
      // started, and K is killed with SIGKILL. The others must finish (each within 30 s): they
      // wait for K's leases to expire, take them over and embed those texts. Asserted:
      // - union coverage: every text of the corpus is embedded by someone;
      // - K's batch (embedded by K, never published: K died in the model call): embedded once
      //   more, by exactly one of the others — the only duplicates allowed, since K's result was
      //   lost with K;
      // - every other text: embedded exactly once, by one of the others;
      // - no text K held a lease on is embedded by another machine before that lease expired
      //   (its PTTL as read just before the kill).
      const redis = await redisServer();
      const log = join(tempDir(), 'embeds.log');
      writeFileSync(log, '');
      const corpus = Array.from({ length: 300 }, (_, i) => textOf(i));
      const k = startMachine({
        name: 'K',
        url: redis.url,
        prefix: PREFIX,
        leaseMs: 1000,
        texts: shuffled(corpus, 11),
        log,
        hangOnCall: 1,
      });
      const others = [1, 2].map((m) =>
        startMachine({
          name: `s${m}`,
          url: redis.url,
          prefix: PREFIX,
          leaseMs: 5000,
          texts: shuffled(corpus, 100 + m),
          log,
        }),
      );
      // A cache of the fleet in this process, only to name each text's lease key in Redis.
      const helper = await EmbeddingCache.open({
        maxBytes: 8 * 1024 * 1024,
        remote: { url: redis.url, prefix: PREFIX, timeoutMs: TIMEOUT_MS },
      });
      try {
        await within(Promise.all([k, ...others].map((m) => m.ready)), 30_000, 'every machine ready');
        const names = new KeyNames(PREFIX);
        const words = new Int32Array(4);
        const textOfLease = new Map<string, string>();
        for (const t of corpus) {
          helper.keyWords(t, undefined, words, 0);
          textOfLease.set(names.lease(names.value(words, 0, names.tagOf('default'), 0, 0)), t);
        }

        k.go();
        const kBatch = async (): Promise<Embedding[]> => {
          for (;;) {
            // The batch's lines are appended one by one: wait for all of them.
            const mine = readLog(log).filter((e) => e.machine === 'K');
            if (mine.length >= BATCH) return mine;
            await sleep(10);
          }
        };
        const batch = new Set((await within(kBatch(), 30_000, "K's first embed call")).map((e) => e.text));
        expect(batch.size).toBe(BATCH);

        // Every lease in Redis, with its holder's token and its PTTL, read atomically.
        const client = createClient({ url: redis.url });
        await client.connect();
        const before = Date.now();
        const snapshot = (await client.sendCommand([
          'EVAL',
          "local out = {} for _, key in ipairs(redis.call('KEYS', ARGV[1])) do table.insert(out, key) table.insert(out, redis.call('GET', key) or '') table.insert(out, redis.call('PTTL', key)) end return out",
          '0',
          `${PREFIX}:{*}:lease:*`,
        ])) as (string | number)[];
        await client.close();
        for (const m of others) m.go();
        k.child.kill('SIGKILL');
        const killedAt = Date.now();

        const leases = new Map<string, { token: string; expiresAfter: number }>();
        for (let i = 0; i < snapshot.length; i += 3) {
          const text = textOfLease.get(String(snapshot[i]));
          expect(text, `lease key ${String(snapshot[i])} names a text of the corpus`).toBeDefined();
          leases.set(text!, {
            token: String(snapshot[i + 1]),
            expiresAfter: before + Number(snapshot[i + 2]),
          });
        }
        // K holds the leases of the batch in its model call, and of texts it never got to.
        const kTokens = new Set([...batch].map((t) => leases.get(t)?.token));
        expect(kTokens.size, 'one holder for every text of K’s batch').toBe(1);
        const kToken = [...kTokens][0]!;
        expect(kToken).toMatch(/^[0-9a-f]{16}$/);
        const leasedByK = [...leases].filter(([, l]) => l.token === kToken).map(([t]) => t);
        const leasedOnly = leasedByK.filter((t) => !batch.has(t));
        expect(leasedOnly.length, 'texts K held leases on but never embedded').toBeGreaterThan(0);

        expect(await k.exited).toMatchObject({ signal: 'SIGKILL' });
        const summaries = await Promise.all(
          others.map((m) => within(m.done, 30_000, `machine ${m.name} finishing`)),
        );
        const finishedAfter = Date.now() - killedAt;
        for (const s of summaries) {
          expect(s, `machine ${s.name}`).toMatchObject({ texts: 300, returned: 300, bad: 0 });
          expect(s.remote.leaseWaits, `machine ${s.name} waited for K's leases`).toBeGreaterThan(0);
        }

        const embeds = readLog(log);
        const byText = new Map<string, Embedding[]>();
        for (const e of embeds) byText.set(e.text, [...(byText.get(e.text) ?? []), e]);
        const missing = corpus.filter((t) => !byText.has(t));
        expect(missing, 'texts never embedded').toEqual([]);
        const problems: string[] = [];
        for (const t of corpus) {
          const es = byText.get(t)!;
          const who = es.map((e) => `${e.machine}@+${e.at - killedAt}ms`).join(',');
          const byK = es.filter((e) => e.machine === 'K');
          const theirs = es.filter((e) => e.machine !== 'K');
          if (byK.length !== (batch.has(t) ? 1 : 0)) problems.push(`embedded by K ${byK.length}×: ${t}`);
          if (theirs.length !== 1) problems.push(`embedded by the others ${theirs.length}× (${who}): ${t}`);
          const lease = leases.get(t);
          if (lease?.token === kToken && theirs.some((e) => e.at < lease.expiresAfter - 5)) {
            problems.push(
              `embedded by ${who} before K's lease expired (+${lease.expiresAfter - killedAt}ms): ${t}`,
            );
          }
        }
        expect(problems).toEqual([]);
        console.log(
          `K killed holding ${leasedByK.length} leases (${batch.size} in its model call); ` +
            `others embedded ${summaries.map((s) => `${s.name}=${s.embedded}`).join(' ')} and finished ${finishedAfter} ms after the kill`,
        );
      } finally {
        await helper.close();
      }
    },
  );
});

describe('fleet single-flight: one interleaving, pinned (two caches in this process)', () => {
  const open = useCaches();

  it(
    'a waiter that takes over a lease released meanwhile reads the published vector instead of embedding again',
    { timeout: 30_000 },
    async () => {
      // Machine A embeds text t under its lease. Machine B misses t, finds A's lease and waits
      // (polls). B's poll reads t from Redis (a miss: A is still embedding); then, before B's
      // lease attempt reaches Redis, A finishes: it publishes t and releases its lease. B's
      // SET NX now succeeds. The vector is in Redis: B must not call the model for t again.
      // (Step 2 of the protocol re-reads after leasing for exactly this reason.)
      const redis = await redisServer();
      const a = await open({
        maxBytes: 8 * 1024 * 1024,
        remote: { url: redis.url, leaseMs: 10_000, timeoutMs: TIMEOUT_MS },
      });
      const raw = createClient({ url: redis.url });
      await raw.connect();
      // B's client: the same node-redis client, with its lease SETs observable and holdable.
      let leaseSets = 0;
      let beforeLease: ((n: number) => Promise<void>) | null = null;
      const send = raw.sendCommand.bind(raw);
      (raw as unknown as { sendCommand: typeof send }).sendCommand = (async (
        args: unknown,
        ...rest: unknown[]
      ) => {
        const argv = args as (string | Buffer)[];
        if (
          String(argv[0]).toUpperCase() === 'SET' &&
          String(argv[1]).includes(':lease:') &&
          argv.includes('NX')
        ) {
          leaseSets++;
          if (beforeLease !== null) await beforeLease(leaseSets);
        }
        return (send as (...a: unknown[]) => Promise<unknown>)(args, ...rest);
      }) as unknown as typeof send;
      let b: EmbeddingCache | undefined;
      try {
        b = await open({
          maxBytes: 8 * 1024 * 1024,
          remote: { client: raw, leaseMs: 10_000, timeoutMs: TIMEOUT_MS },
        });
        const t = 'a text both machines need at the same moment';
        const v = vectorFor(1, 1, DIMS);

        let letAFinish!: () => void;
        const aMayFinish = new Promise<void>((resolve) => (letAFinish = resolve));
        let aStarted!: () => void;
        const aEmbedding = new Promise<void>((resolve) => (aStarted = resolve));
        let aCalls = 0;
        const aDone = a.getOrCompute([t], async (batch) => {
          aCalls++;
          aStarted();
          await aMayFinish;
          return batch.map(() => v);
        });
        await within(aEmbedding, 10_000, "A's model call");

        // B's first lease attempt (after its first read) finds A's lease; its second comes from
        // the poll, after a read that missed: hold that one until A has published and released.
        beforeLease = async (n) => {
          if (n !== 2) return;
          letAFinish();
          await aDone;
        };
        let bCalls = 0;
        const got = await within(
          b.getOrCompute([t], (batch) => {
            bCalls++;
            return batch.map(() => vectorFor(2, 2, DIMS));
          }),
          20_000,
          "B's getOrCompute",
        );
        expect(
          leaseSets,
          "B's lease attempts: one after its first read, one from its poll",
        ).toBeGreaterThanOrEqual(2);
        expect(aCalls).toBe(1);
        expectBitExact((await aDone)[0], v);
        expect(b.stats().remote!.leaseWaits).toBe(1);
        expect(bCalls, 'B embedded t although A had published it before B took the lease').toBe(0);
        expectBitExact(got[0], v);
      } finally {
        beforeLease = null;
        // The cache never closes a client it was given: close B first, then its client.
        await b?.close();
        await raw.close();
      }
    },
  );

  it(
    'a machine embedding for longer than leaseMs keeps its leases: a machine waiting for them embeds nothing',
    { timeout: 60_000 },
    async () => {
      // leaseMs: "how long a machine's claim on a text it is embedding holds before others may
      // take it over; renewed while the embedding runs". A leases its 24 texts (two batches of
      // 12: a round leases at most two batches) with leaseMs 2000, and each model call takes
      // 2.5 s: one call alone outlives a lease, so the leases must be renewed while the model
      // runs, not only between batches. B asks for the same texts while A runs: A is alive and
      // making progress the whole time, so B waits and reads every vector, and embeds none.
      const redis = await redisServer();
      const remote = { url: redis.url, leaseMs: 2000, timeoutMs: TIMEOUT_MS };
      const a = await open({ maxBytes: 8 * 1024 * 1024, remote });
      const b = await open({ maxBytes: 8 * 1024 * 1024, remote });
      const texts = Array.from({ length: 24 }, (_, i) => textOf(i));
      const vectors = new Map(texts.map((t, i) => [t, vectorFor(i, 1, DIMS)]));
      let aStarted!: () => void;
      const aEmbedding = new Promise<void>((resolve) => (aStarted = resolve));
      const aDone = a.getOrCompute(
        texts,
        async (batch) => {
          aStarted();
          await sleep(2500);
          return batch.map((t) => vectors.get(t)!);
        },
        { batchSize: 12 },
      );
      await within(aEmbedding, 10_000, "A's first model call");
      const bEmbedded: string[] = [];
      const got = await within(
        b.getOrCompute(
          texts,
          (batch) => {
            bEmbedded.push(...batch);
            return batch.map((t) => vectors.get(t)!);
          },
          { batchSize: 1 },
        ),
        30_000,
        "B's getOrCompute",
      );
      const started = await aDone;
      for (let i = 0; i < texts.length; i++) {
        expectBitExact(started[i], vectors.get(texts[i]!)!);
        expectBitExact(got[i], vectors.get(texts[i]!)!);
      }
      expect(b.stats().remote!.leaseWaits).toBeGreaterThan(0);
      expect(bEmbedded, 'texts B embedded while A held (and should have renewed) their leases').toEqual([]);
    },
  );
});
