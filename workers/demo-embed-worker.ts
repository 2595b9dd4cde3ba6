/**
 * Embedding worker of the demo (`npm start`): a Piscina worker that attaches to the shared
 * cache once and wraps its model in getOrCompute. This is the whole integration — every worker
 * of the pool reads what the others embedded, and a text two workers meet at once is embedded
 * once. It returns counts, not vectors: the vectors stay in the shared cache.
 */
import { workerData } from 'node:worker_threads';
import { cacheFromWorkerData, getOrCompute } from '../src/threads/worker.js';
import { STAND_IN_MODEL, standInEmbed } from './demo-model.js';

export interface DemoTask {
  texts: string[];
}

export interface DemoResult {
  /** Texts this task sent to the model. */
  embedded: number;
  /** embed() calls (model batches) this task made. */
  calls: number;
}

const cache = await cacheFromWorkerData(workerData);

export default async function embedBatch(task: DemoTask): Promise<DemoResult> {
  let embedded = 0;
  let calls = 0;
  await getOrCompute(
    cache,
    task.texts,
    (missing) => {
      calls++;
      embedded += missing.length;
      return missing.map(standInEmbed);
    },
    { model: STAND_IN_MODEL, batchSize: 64 },
  );
  return { embedded, calls };
}
