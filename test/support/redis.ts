/**
 * Real redis-server processes for the remote-tier tests: each one listens on a free loopback
 * port, keeps its files in its own temp folder `embedcache-redis-XXXXXX`, and never touches the
 * system service (its port, config or data). Nothing is mocked.
 *
 * startRedis() starts one server, startCluster() a cluster of masters. A server can be killed
 * (SIGKILL, folder kept) and restarted on the same port and folder, to test what a client does
 * while its server is gone. Every process started here is tracked: any still running when this
 * process exits (or is ended by SIGTERM, SIGINT or SIGHUP) is SIGKILLed and its folder removed,
 * so a crashed test run leaves no server behind.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const REDIS_SERVER = 'redis-server';
const REDIS_CLI = 'redis-cli';
const HOST = '127.0.0.1';

/** How long a server may take to answer PING after it is spawned. */
const START_TIMEOUT_MS = 10_000;
/** How long stop() waits after SIGTERM before it sends SIGKILL. */
const STOP_GRACE_MS = 3_000;
/** How long every node of a new cluster may take to report cluster_state:ok. */
const CLUSTER_TIMEOUT_MS = 20_000;
/** How much of a server's output (stdout and stderr together) is kept for error messages. */
const OUTPUT_KEEP = 4096;
/** A cluster node also listens on port + 10000 (the cluster bus). */
const BUS_OFFSET = 10_000;

export interface RedisServer {
  readonly port: number;
  /** `redis://127.0.0.1:PORT` */
  readonly url: string;
  /** The server's working folder (--dir): removed by stop() unless keepDir. */
  readonly dir: string;
  /** The pid of the current process (a new one after restart()). */
  readonly pid: number;
  /** Whether the current process is still running. */
  readonly running: boolean;
  /** The last ~4 KB of the server's stdout and stderr. */
  output(): string;
  /** SIGTERM, then SIGKILL after 3 s; waits for the exit; removes the folder unless keepDir. */
  stop(opts?: { keepDir?: boolean }): Promise<void>;
  /** SIGKILL and wait for the exit; the folder is kept (for restart()). */
  kill(): Promise<void>;
  /** Starts the server again on the same port and folder (stopping it first if it still runs). */
  restart(): Promise<void>;
  /** Runs `redis-cli -h 127.0.0.1 -p PORT ...args`; resolves to its stdout, trimmed. */
  cli(...args: string[]): Promise<string>;
}

export interface RedisCluster {
  nodes: RedisServer[];
  /** The nodes' urls, in the shape cluster clients take as root nodes. */
  rootNodes: { url: string }[];
  /** Stops every node and removes their folders. */
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Tracking: every child still running when this process ends is SIGKILLed and the folders of
// servers not stopped are removed, whether the process exits or is ended by a signal (vitest
// stops its fork workers with SIGTERM, and a signal ends a process without an 'exit' event).

interface Tracking {
  /** Running children. */
  live: Set<ChildProcess>;
  /** Ports of servers not stopped for good (a killed server keeps its port for restart()). */
  reserved: Set<number>;
  /** Folders of servers not stopped for good. */
  dirs: Set<string>;
}

// One per process, even if a test runner evaluates this module more than once.
const TRACKING = Symbol.for('embedcache.test.redis');
const g = globalThis as typeof globalThis & { [TRACKING]?: Tracking };
const tracking: Tracking = g[TRACKING] ?? installTracking();
const { live, reserved, dirs } = tracking;

function installTracking(): Tracking {
  const t: Tracking = { live: new Set(), reserved: new Set(), dirs: new Set() };
  g[TRACKING] = t;
  const cleanup = (): void => {
    for (const child of t.live) {
      try {
        child.kill('SIGKILL');
      } catch {
        // Already gone.
      }
    }
    t.live.clear();
    for (const dir of t.dirs) rmSync(dir, { recursive: true, force: true });
    t.dirs.clear();
  };
  process.on('exit', cleanup);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      cleanup();
      // Alone, a listener would keep the process alive: unless someone else handles the
      // signal, end the process with it as if this listener were not there.
      if (process.listenerCount(signal) === 1) {
        process.off(signal, onSignal);
        process.kill(process.pid, signal);
      }
    };
    process.on(signal, onSignal);
  }
  return t;
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function exited(child: ChildProcess): Promise<void> {
  if (hasExited(child)) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

// ---------------------------------------------------------------------------------------------
// Ports.

/** Whether `port` can be bound on 127.0.0.1 right now. */
function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host: HOST, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** A port the OS hands out for 127.0.0.1:0 (bound, read, closed). */
function ephemeralPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen({ port: 0, host: HOST, exclusive: true }, () => {
      const address = srv.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('no port from listen(0)'))));
    });
  });
}

/** A free port not held by another server of this process; with `bus`, port + 10000 is free too. */
async function freePort(bus = false): Promise<number> {
  for (let attempt = 0; attempt < 500; attempt++) {
    const port = await ephemeralPort();
    if (bus && (port >= 65_536 - BUS_OFFSET || !(await canBind(port + BUS_OFFSET)))) continue;
    // Checked and claimed with no await in between, so concurrent callers never share a port.
    if (reserved.has(port) || (bus && (reserved.has(port + BUS_OFFSET) || reserved.has(port - BUS_OFFSET))))
      continue;
    reserved.add(port);
    return port;
  }
  throw new Error(`no free loopback port${bus ? ' pair (P and P + 10000)' : ''} found`);
}

// ---------------------------------------------------------------------------------------------
// A tiny RESP client: one command, its first reply.

/**
 * Sends `command` (inline form) to 127.0.0.1:port and resolves to the first reply as raw text
 * (`+PONG`, `-ERR ...`, or a bulk string's payload), or null if there is no answer in time.
 */
function query(port: number, command: string, timeoutMs = 1000): Promise<string | null> {
  return new Promise((resolve) => {
    let buf = '';
    const socket = createConnection({ port, host: HOST });
    const finish = (reply: string | null): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(reply);
    };
    const timer = setTimeout(() => finish(null), timeoutMs);
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write(`${command}\r\n`));
    socket.on('data', (chunk: string) => {
      buf += chunk;
      const eol = buf.indexOf('\r\n');
      if (eol < 0) return;
      if (buf[0] !== '$') return finish(buf.slice(0, eol));
      const len = Number(buf.slice(1, eol));
      if (len < 0) return finish('');
      // Bulk string: byte length, but INFO output is ASCII.
      if (buf.length >= eol + 2 + len + 2) finish(buf.slice(eol + 2, eol + 2 + len));
    });
    socket.once('error', () => finish(null));
    socket.once('close', () => finish(null));
  });
}

// ---------------------------------------------------------------------------------------------
// One server.

/** The server could not listen because its port (or its cluster bus port) is taken. */
class PortBusyError extends Error {}

function isPortBusy(output: string): boolean {
  return /Address already in use|Failed listening on port/i.test(output);
}

class Server implements RedisServer {
  readonly url: string;
  private child: ChildProcess | undefined;
  private out = '';
  private removed = false;

  constructor(
    readonly port: number,
    readonly dir: string,
    private readonly args: string[],
  ) {
    this.url = `redis://${HOST}:${port}`;
  }

  get pid(): number {
    return this.child?.pid ?? -1;
  }

  get running(): boolean {
    return this.child !== undefined && !hasExited(this.child);
  }

  output(): string {
    return this.out;
  }

  private append(chunk: Buffer): void {
    this.out = (this.out + chunk.toString('utf8')).slice(-OUTPUT_KEEP);
  }

  private describe(): string {
    return `redis-server on port ${this.port} (dir ${this.dir})`;
  }

  /** Spawns the process and waits for PING; throws PortBusyError if the port is taken. */
  async launch(): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    dirs.add(this.dir);
    this.removed = false;
    this.out = '';
    const argv = [
      '--port',
      String(this.port),
      '--bind',
      HOST,
      '--dir',
      this.dir,
      '--save',
      '',
      '--appendonly',
      'no',
      '--protected-mode',
      'no',
      '--daemonize',
      'no',
      ...this.args,
    ];
    const child = spawn(REDIS_SERVER, argv, { cwd: this.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    live.add(child);
    child.once('exit', () => live.delete(child));
    // 'close' comes after 'exit', once stdout and stderr have ended.
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    child.stdout?.on('data', (chunk: Buffer) => this.append(chunk));
    child.stderr?.on('data', (chunk: Buffer) => this.append(chunk));

    let spawnError: Error | undefined;
    child.once('error', (err) => {
      spawnError = err;
      live.delete(child);
    });

    const deadline = Date.now() + START_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (spawnError) throw new Error(`${this.describe()} could not be spawned: ${spawnError.message}`);
      if (hasExited(child)) {
        // Let the last output arrive before reading it.
        await Promise.race([closed, sleep(1000)]);
        const msg = `${this.describe()} exited (code ${child.exitCode}, signal ${child.signalCode}) before answering PING`;
        const full = `${msg}\n--- server output ---\n${this.out}`;
        throw isPortBusy(this.out) ? new PortBusyError(full) : new Error(full);
      }
      if ((await query(this.port, 'PING', 500)) === '+PONG') {
        // A PONG proves a server is there, not that it is ours: check its pid.
        const info = await query(this.port, 'INFO server', 1000);
        const pid = /process_id:(\d+)/.exec(info ?? '')?.[1];
        if (pid === String(child.pid)) return;
        if (pid !== undefined) {
          // Someone else has the port, so ours fails to bind and exits (reported above).
          await Promise.race([exited(child), sleep(1000)]);
          continue;
        }
      }
      await sleep(50);
    }
    child.kill('SIGKILL');
    await exited(child);
    throw new Error(
      `${this.describe()} did not answer PING within ${START_TIMEOUT_MS} ms\n--- server output ---\n${this.out}`,
    );
  }

  async stop(opts: { keepDir?: boolean } = {}): Promise<void> {
    const child = this.child;
    if (child && !hasExited(child)) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
      await exited(child);
      clearTimeout(timer);
    }
    if (!opts.keepDir) {
      reserved.delete(this.port);
      dirs.delete(this.dir);
      if (!this.removed) rmSync(this.dir, { recursive: true, force: true });
      this.removed = true;
    }
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (child && !hasExited(child)) {
      child.kill('SIGKILL');
      await exited(child);
    }
  }

  async restart(): Promise<void> {
    if (this.running) await this.stop({ keepDir: true });
    reserved.add(this.port);
    // Right after a kill the port can still be busy for a moment.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.launch();
        return;
      } catch (err) {
        if (!(err instanceof PortBusyError) || attempt >= 10) throw err;
        await sleep(250 * attempt);
      }
    }
  }

  cli(...args: string[]): Promise<string> {
    return runCli(['-h', HOST, '-p', String(this.port), ...args]);
  }
}

function runCli(args: string[], timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      REDIS_CLI,
      args,
      { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`redis-cli ${args.join(' ')} failed: ${err.message}\n${stdout}${stderr}`.trim()));
        } else {
          resolve(stdout.trim());
        }
      },
    );
  });
}

/** Starts a server in a new temp folder on a free port, trying other ports while the chosen one turns out busy. */
async function launchOnFreePort(bus: boolean, args: string[]): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), 'embedcache-redis-'));
  for (let attempt = 1; ; attempt++) {
    const port = await freePort(bus);
    const server = new Server(port, dir, args);
    try {
      await server.launch();
      return server;
    } catch (err) {
      reserved.delete(port);
      if (!(err instanceof PortBusyError) || attempt >= 5) {
        dirs.delete(dir);
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
}

/**
 * Starts one redis-server on a free 127.0.0.1 port in a fresh temp folder, with persistence
 * off (`--save '' --appendonly no`), plus `opts.args`. Resolves once it answers PING.
 */
export function startRedis(opts: { args?: string[] } = {}): Promise<RedisServer> {
  return launchOnFreePort(false, opts.args ?? []);
}

/**
 * Starts `masters` redis-server processes in cluster mode (each on a free port P with P + 10000
 * free too, each in its own temp folder), joins them with `redis-cli --cluster create` (no
 * replicas), and resolves once every node reports cluster_state:ok.
 */
export async function startCluster(masters = 3): Promise<RedisCluster> {
  const args = [
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    'nodes.conf',
    '--cluster-node-timeout',
    '2000',
  ];
  const settled = await Promise.allSettled(
    Array.from({ length: masters }, () => launchOnFreePort(true, args)),
  );
  const nodes = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  try {
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;

    await runCli(
      [
        '--cluster',
        'create',
        ...nodes.map((n) => `${HOST}:${n.port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      60_000,
    );

    const deadline = Date.now() + CLUSTER_TIMEOUT_MS;
    let last = '';
    for (;;) {
      const infos = await Promise.all(
        nodes.map((n) => n.cli('cluster', 'info').catch((e: Error) => e.message)),
      );
      if (infos.every((info) => /^cluster_state:ok\s*$/m.test(info))) break;
      last = infos.map((info, i) => `node ${nodes[i]?.port}: ${info.split('\n')[0] ?? ''}`).join('\n');
      if (Date.now() > deadline) {
        throw new Error(`cluster not ok within ${CLUSTER_TIMEOUT_MS} ms:\n${last}`);
      }
      await sleep(100);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes, rootNodes: nodes.map((n) => ({ url: n.url })), stop };
}
