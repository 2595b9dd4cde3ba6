/**
 * Prometheus metrics of a cache: a small cache doing some traffic, and GET /metrics served with
 * node:http from a prom-client registry.
 *
 *   npx tsx examples/metrics-server.ts [port]      (or PORT=9464; default 9464, 0 = any free port)
 *   curl -s localhost:9464/metrics | grep -v '^#'
 *
 * (In your project the imports are 'embedcache' and 'embedcache/metrics'; prom-client is an
 * optional peer dependency: install it yourself.)
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { EmbeddingCache } from '../src/index.js';
import { registerEmbedcacheMetrics } from '../src/metrics/prometheus.js';

const port = Number(process.argv[2] ?? process.env.PORT ?? 9464);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`usage: metrics-server.ts [port]  (got ${process.argv[2] ?? process.env.PORT})`);
  process.exit(2);
}

const cache = await EmbeddingCache.open({ maxEntries: 500, maxBytes: 16 * 1024 ** 2 });
const registry = new Registry();
const metrics = registerEmbedcacheMetrics(cache, { registry, labels: { cache: 'example' } });

/** Your model goes here: one vector per text, in order. */
async function embed(texts: string[]): Promise<Float32Array[]> {
  return texts.map((t) => Float32Array.from({ length: 8 }, (_, i) => t.charCodeAt(i % t.length) / 255));
}

// Traffic: texts drawn from a vocabulary larger than maxEntries, so there are hits, misses,
// embeds and evictions to see.
const traffic = setInterval(() => {
  const texts = Array.from({ length: 20 }, () => `chunk ${Math.floor(Math.random() * 800)}`);
  cache.getOrCompute(texts, embed, { model: 'toy-8' }).catch((err: unknown) => console.error(err));
  cache.get(`chunk ${Math.floor(Math.random() * 800)}`, { model: 'toy-8' });
}, 50);

const server = createServer((req, res) => {
  if (req.method !== 'GET' || req.url !== '/metrics') {
    res.writeHead(404).end('try GET /metrics\n');
    return;
  }
  registry.metrics().then(
    (body) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(body),
    (err: unknown) => res.writeHead(500).end(String(err)),
  );
});
server.listen(port, () => {
  console.log(`metrics on http://localhost:${(server.address() as AddressInfo).port}/metrics`);
});

async function shutdown(): Promise<void> {
  clearInterval(traffic);
  server.close();
  metrics.unregister();
  await cache.close();
}
process.once('SIGINT', () => void shutdown());
process.once('SIGTERM', () => void shutdown());
