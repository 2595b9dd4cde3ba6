/**
 * Starts a throw-away redis-server for the peer benchmark, if one is installed.
 *
 * Loopback only (127.0.0.1), a free port picked by the OS, no persistence (no RDB snapshots,
 * no AOF), so it measures Redis as a cache and leaves nothing on disk. The process is ours: it
 * is stopped by its pid when the suite ends, and on exit if the suite crashes.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { RespClient } from './resp.mjs';

export interface RedisServer {
  port: number;
  version: string;
  stop(): Promise<void>;
}

export type RedisStart = { ok: true; server: RedisServer } | { ok: false; reason: string };

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export async function startRedis(binary = 'redis-server'): Promise<RedisStart> {
  const probe = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    return {
      ok: false,
      reason: `${binary} is not on PATH (install it, e.g. apt-get install redis-server, to include Redis)`,
    };
  }
  const version = /v=(\S+)/.exec(probe.stdout)?.[1] ?? probe.stdout.trim();
  const port = await freePort();
  const child: ChildProcess = spawn(
    binary,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      '--loglevel',
      'warning',
    ],
    { stdio: ['ignore', 'ignore', 'inherit'] },
  );
  const kill = () => {
    if (child.exitCode === null && child.pid !== undefined) child.kill('SIGTERM');
  };
  process.once('exit', kill);

  let ready = false;
  for (let attempt = 0; attempt < 100 && !ready; attempt++) {
    if (child.exitCode !== null)
      return { ok: false, reason: `${binary} exited with code ${child.exitCode} at start-up` };
    try {
      const c = await RespClient.connect(port);
      ready = (await c.call('PING')) === 'PONG';
      c.close();
    } catch {
      await sleep(50);
    }
  }
  if (!ready) {
    kill();
    return { ok: false, reason: `${binary} did not answer PING on 127.0.0.1:${port} within 5 s` };
  }

  return {
    ok: true,
    server: {
      port,
      version,
      stop: async () => {
        process.off('exit', kill);
        if (child.exitCode !== null) return;
        const exited = new Promise<void>((r) => child.once('exit', () => r()));
        kill();
        await exited;
      },
    },
  };
}
