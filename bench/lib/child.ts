/**
 * Runs one measurement in a fresh Node process and returns what it reports.
 *
 * Why a process per row: RSS, heap size and GC pauses are process-wide. A row measured after
 * another row inherits that row's heap, freed-but-not-returned pages, JIT state and GC debt, so
 * "memory growth at 100k entries" would depend on what ran before. A fresh process (with
 * --expose-gc, so the row can collect before each reading) makes every row independent.
 *
 * The child is the same .ts module run under tsx with `--child <json>`; it reports over the IPC
 * channel with process.send and exits. Its stdout/stderr are inherited, so progress bars show.
 */
import { fork } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';

const CHILD_FLAG = '--child';

export interface ChildOptions {
  /** Extra Node flags, e.g. ['--max-old-space-size=8192']. */
  nodeFlags?: string[];
  /** Kill the child after this many ms (default: none). */
  timeoutMs?: number;
}

/** Runs `modulePath --child <JSON(params)>` in a new Node process and resolves with its report. */
export function runChild<P, R>(modulePath: string, params: P, opts: ChildOptions = {}): Promise<R> {
  return new Promise<R>((resolvePromise, reject) => {
    const child = fork(modulePath, [CHILD_FLAG, JSON.stringify(params)], {
      execArgv: ['--import', 'tsx', '--expose-gc', ...(opts.nodeFlags ?? [])],
      stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    });
    let result: { ok: true; value: R } | { ok: false; error: string } | undefined;
    const timer =
      opts.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('message', (msg) => {
      result = msg as typeof result;
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (timer !== undefined) clearTimeout(timer);
      if (result?.ok) resolvePromise(result.value);
      else if (result && !result.ok) reject(new Error(`child ${modulePath} failed: ${result.error}`));
      else reject(new Error(`child ${modulePath} exited (code ${code}, signal ${signal}) without a report`));
    });
  });
}

/** The params this process was started with by runChild, or undefined in the parent. */
export function childParams<P>(): P | undefined {
  const i = process.argv.indexOf(CHILD_FLAG);
  if (i < 0) return undefined;
  const raw = process.argv[i + 1];
  if (raw === undefined) throw new Error(`${CHILD_FLAG} needs a JSON argument`);
  return JSON.parse(raw) as P;
}

/** Child side: runs `fn`, sends its result (or error) to the parent, and exits. */
export async function serveChild<P, R>(params: P, fn: (p: P) => Promise<R> | R): Promise<void> {
  if (typeof process.send !== 'function')
    throw new Error('serveChild: not started by runChild (no IPC channel)');
  let msg: unknown;
  try {
    msg = { ok: true, value: await fn(params) };
  } catch (err) {
    msg = { ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) };
  }
  process.send(msg, () => process.exit(0));
}

/** Full GC (needs --expose-gc, which runChild passes); a no-op otherwise. */
export function collect(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
}

/** Lets queued callbacks (PerformanceObserver entries) run. */
export function tick(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/**
 * Process memory after a full GC, once RSS has settled. Settling takes seconds, not a GC: V8's
 * memory reducer shrinks the young generation about 1.5 s after allocation slows down, and
 * memory that became garbage (a closed cache's shared memory, V8's pooled pages) goes back to
 * the OS up to seconds after the GC that freed it. So: wait at least minMs, then until three
 * readings 250 ms apart agree within 64 KiB. Needs --expose-gc (runChild passes it).
 */
export async function settledMemory(minMs = 2500): Promise<NodeJS.MemoryUsage> {
  const start = Date.now();
  let prev = Number.NaN;
  let stable = 0;
  for (let i = 0; i < 80 && (stable < 3 || Date.now() - start < minMs); i++) {
    collect();
    await sleep(250);
    const rss = process.memoryUsage().rss;
    stable = Math.abs(rss - prev) < 64 * 1024 ? stable + 1 : 0;
    prev = rss;
  }
  collect();
  return process.memoryUsage();
}
