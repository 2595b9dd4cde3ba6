/**
 * Entry file of the prefaulter's thread (prefault.ts starts it; the loop is in prefault-steps.ts).
 * It runs the loop only when started as that thread: under a private workerData key whose shape
 * checks out, so a worker of the user's with its own workerData never runs it.
 */
import { workerData } from 'node:worker_threads';
import { PREFAULT_DATA_KEY, type PrefaultData, prefaultLoop } from './prefault-steps.js';

const d = (workerData as Record<string, unknown> | null)?.[PREFAULT_DATA_KEY] as PrefaultData | undefined;
if (d !== undefined && d.control instanceof SharedArrayBuffer && Array.isArray(d.arenas)) prefaultLoop(d);
