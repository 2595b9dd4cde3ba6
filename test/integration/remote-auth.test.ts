/**
 * Who gets in: ACL credentials in the URL, TLS through a client the caller configured. Both
 * against a real redis-server (an ACL user limited to the cache's prefix; a TLS port with a
 * certificate made for the test).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useCaches } from '../support/caches.js';
import { textFor, vectorFor } from '../support/data.mjs';
import { type RedisServer, startRedis } from '../support/redis.js';

const DIMS = 16;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A CA and a server certificate for 127.0.0.1, made with openssl in `dir`. */
function makeCerts(dir: string): { ca: string; cert: string; key: string } {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=test-ca',
    '-keyout',
    'ca.key',
    '-out',
    'ca.crt',
  );
  run(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    'server.key',
    '-out',
    'server.csr',
  );
  execFileSync('sh', ['-c', "printf 'subjectAltName=IP:127.0.0.1' > san.ext"], { cwd: dir });
  run(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '1',
    '-extfile',
    'san.ext',
    '-out',
    'server.crt',
  );
  return { ca: join(dir, 'ca.crt'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
}

describe('remote tier: credentials and TLS', { timeout: 60_000 }, () => {
  const open = useCaches();
  let redis: RedisServer;
  let certDir: string;
  let tlsPort: number;
  let ca: string;
  beforeAll(async () => {
    certDir = mkdtempSync(join(tmpdir(), 'embedcache-certs-'));
    const certs = makeCerts(certDir);
    ca = readFileSync(certs.ca, 'utf8');
    tlsPort = await freePort();
    redis = await startRedis({
      args: [
        '--tls-port',
        String(tlsPort),
        '--tls-cert-file',
        certs.cert,
        '--tls-key-file',
        certs.key,
        '--tls-ca-cert-file',
        certs.ca,
        '--tls-auth-clients',
        'no',
      ],
    });
    await redis.cli('ACL', 'SETUSER', 'fleet', 'on', '>fleet-password', '~ec:*', '&ec:*', '+@all');
  });
  afterAll(async () => {
    await redis?.stop();
    rmSync(certDir, { recursive: true, force: true });
  });

  it('an ACL user in the URL, limited to the prefix, shares entries', async () => {
    const url = `redis://fleet:fleet-password@127.0.0.1:${redis.port}`;
    const a = await open({ maxBytes: 8 * 1024 ** 2, remote: { url, prefix: 'ec' } });
    const b = await open({ maxBytes: 8 * 1024 ** 2, remote: { url, prefix: 'ec' } });
    const texts = Array.from({ length: 50 }, (_, i) => textFor(i, 40));
    a.setMany(
      texts,
      texts.map((_, i) => vectorFor(i, 1, DIMS)),
    );
    await a.flush();
    const got = await b.fetchMany(texts);
    expect(got.filter((v) => v !== undefined)).toHaveLength(50);
    expect(a.stats().remote).toMatchObject({ errors: 0, state: 'up' });
  });

  it('a wrong password: the cache opens, serves locally, and counts the failures', async () => {
    const url = `redis://fleet:wrong@127.0.0.1:${redis.port}`;
    const a = await open({ maxBytes: 8 * 1024 ** 2, remote: { url, prefix: 'ec', timeoutMs: 200 } });
    a.set('local', vectorFor(1, 1, DIMS));
    expect(a.get('local')).toBeDefined();
    expect(await a.fetchMany(['local', 'elsewhere'])).toEqual([expect.any(Float32Array), undefined]);
    const calls = await a.getOrCompute(['x', 'y'], (t) => t.map(() => Array.from(vectorFor(2, 2, DIMS))));
    expect(calls).toHaveLength(2);
    expect(a.stats().remote!.errors).toBeGreaterThan(0);
    expect(a.stats().remote!.state).toBe('down');
  });

  it('TLS through a client the caller configured (and never closed by the cache)', async () => {
    const client = createClient({ url: `rediss://127.0.0.1:${tlsPort}`, socket: { tls: true, ca } });
    await client.connect();
    try {
      const a = await open({ maxBytes: 8 * 1024 ** 2, remote: { client, prefix: 'tls' } });
      const texts = Array.from({ length: 20 }, (_, i) => textFor(i, 30));
      const vectors = texts.map((_, i) => vectorFor(i, 4, DIMS));
      a.setMany(texts, vectors);
      await a.flush();
      await a.close();
      expect(client.isOpen).toBe(true);
      // Over the plain port: the values written through TLS are there.
      const b = await open({ maxBytes: 8 * 1024 ** 2, remote: { url: redis.url, prefix: 'tls' } });
      const got = await b.fetchMany(texts);
      expect(got.map((v) => (v === undefined ? null : Array.from(v)))).toEqual(
        vectors.map((v) => Array.from(v)),
      );
    } finally {
      await client.close();
    }
  });
});
