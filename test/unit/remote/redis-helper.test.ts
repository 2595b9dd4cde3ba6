/**
 * The redis test helper (test/support/redis.ts): a real server that can be killed and restarted
 * on its port, and a real three-master cluster; nothing is left running afterwards.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startCluster, startRedis } from '../../support/redis.js';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('redis test helper', () => {
  it('starts a server, kills it, restarts it on the same port, stops it', { timeout: 60_000 }, async () => {
    const server = await startRedis();
    try {
      expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
      expect(existsSync(server.dir)).toBe(true);
      expect(await server.cli('SET', 'a', '1')).toBe('OK');
      expect(await server.cli('GET', 'a')).toBe('1');

      const firstPid = server.pid;
      await server.kill();
      expect(isAlive(firstPid)).toBe(false);
      expect(existsSync(server.dir)).toBe(true);
      await expect(server.cli('PING')).rejects.toThrow();

      await server.restart();
      expect(server.pid).not.toBe(firstPid);
      expect(await server.cli('PING')).toBe('PONG');
      // Persistence is off: the restarted server starts empty.
      expect(await server.cli('GET', 'a')).toBe('');
    } finally {
      await server.stop();
    }
    expect(server.running).toBe(false);
    expect(isAlive(server.pid)).toBe(false);
    expect(existsSync(server.dir)).toBe(false);
  });

  it('starts a cluster of three masters that routes keys between nodes', { timeout: 60_000 }, async () => {
    const cluster = await startCluster(3);
    try {
      expect(cluster.nodes).toHaveLength(3);
      expect(cluster.rootNodes).toEqual(cluster.nodes.map((n) => ({ url: `redis://127.0.0.1:${n.port}` })));
      const [first, second] = cluster.nodes;
      expect(await first!.cli('-c', 'SET', 'k', 'v')).toBe('OK');
      expect(await second!.cli('-c', 'GET', 'k')).toBe('v');
    } finally {
      await cluster.stop();
    }
    for (const node of cluster.nodes) {
      expect(isAlive(node.pid)).toBe(false);
      expect(existsSync(node.dir)).toBe(false);
    }
  });
});
