/**
 * Worker threads started by a test and terminated after it, and the two ways the tests sync
 * with them: a message of a given type, or an Int32Array word over a SharedArrayBuffer
 * (Atomics.store + Atomics.notify on one side, waitFlag() on the other).
 *
 * Every wait has a deadline: a deadline is a failure ("the worker never got there"), never a
 * way of ordering two threads.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { afterEach } from 'vitest';

/** How long a sync point may take before the test fails. */
export const SYNC_DEADLINE_MS = 15_000;

const built = fileURLToPath(new URL('../../dist/src/index.js', import.meta.url));

/** Throws unless the built package is there: worker fixtures import dist/src/index.js. */
export function requireBuild(): void {
  if (!existsSync(built))
    throw new Error(`${built} is missing: run \`npx tsc -p tsconfig.build.json\` first (npm test builds).`);
}

/**
 * Returns a `start(file, options)` whose workers are all terminated after each test. Call it
 * after useCaches() so that (after-hooks run last-registered first) workers end before the
 * caches close and before temp folders go.
 */
export function useWorkers(): (file: URL, options?: WorkerOptions) => Worker {
  const started: Worker[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((w) => w.terminate()));
  });
  return (file, options) => {
    requireBuild();
    const w = new Worker(file, options);
    // An 'error' event with no listener would be re-thrown as an uncaught exception; the
    // waits below report it instead.
    w.on('error', () => undefined);
    started.push(w);
    return w;
  };
}

/** The next message of `type` from `w`; rejects if the worker fails or exits first, or at the deadline. */
export function nextMessage<T = Record<string, unknown>>(
  w: Worker,
  type: string,
  deadlineMs = SYNC_DEADLINE_MS,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const done = (): void => {
      clearTimeout(timer);
      w.off('message', onMessage);
      w.off('error', onError);
      w.off('exit', onExit);
    };
    const onMessage = (m: { type?: string }): void => {
      if (m?.type !== type) return;
      done();
      resolve(m as T);
    };
    const onError = (err: unknown): void => {
      done();
      reject(err instanceof Error ? err : new Error(String(err)));
    };
    const onExit = (code: number): void => {
      done();
      reject(new Error(`worker exited (code ${code}) before sending '${type}'`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no '${type}' from the worker within ${deadlineMs} ms`));
    }, deadlineMs);
    w.on('message', onMessage);
    w.on('error', onError);
    w.on('exit', onExit);
  });
}

/** Sets ctl[index] = value and wakes every thread waiting on it. */
export function signal(ctl: Int32Array, index: number, value: number): void {
  Atomics.store(ctl, index, value);
  Atomics.notify(ctl, index);
}

/**
 * Resolves once ctl[index] >= atLeast (the other side stores and notifies), without blocking
 * this thread's event loop; rejects at the deadline, naming `what`.
 */
export async function waitFlag(
  ctl: Int32Array,
  index: number,
  atLeast: number,
  what: string,
  deadlineMs = SYNC_DEADLINE_MS,
): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  // A pending waitAsync does not keep a thread alive; this timer does.
  const keepAlive = setInterval(() => undefined, 1000);
  try {
    for (;;) {
      const now = Atomics.load(ctl, index);
      if (now >= atLeast) return;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`${what}: ctl[${index}] is ${now}, still below ${atLeast} after ${deadlineMs} ms`);
      const r = Atomics.waitAsync(ctl, index, now, left);
      if (r.async) await r.value;
    }
  } finally {
    clearInterval(keepAlive);
  }
}

/**
 * Spins (synchronously, without yielding) until ctl[index] >= atLeast: for a sync point that
 * must not give this thread's event loop a turn. Throws at the deadline.
 */
export function spinUntil(
  ctl: Int32Array,
  index: number,
  atLeast: number,
  what: string,
  deadlineMs = SYNC_DEADLINE_MS,
): void {
  const deadline = performance.now() + deadlineMs;
  while (Atomics.load(ctl, index) < atLeast) {
    if (performance.now() > deadline)
      throw new Error(`${what}: ctl[${index}] still below ${atLeast} after ${deadlineMs} ms`);
  }
}

/** Resolves once cond() holds, polling every 10 ms (the event loop turns meanwhile); throws at the deadline. */
export async function waitUntil(
  cond: () => boolean,
  what: string,
  deadlineMs = SYNC_DEADLINE_MS,
): Promise<void> {
  const deadline = performance.now() + deadlineMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`waited ${deadlineMs} ms for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
