/**
 * What a stored record is, for the CLI's scans (stats, verify, export): live, expired, a
 * tombstone, an old generation, or corrupt and why; and how a report names a record. Uses the
 * spill tier's byte formats (spill/format.ts); reads nothing itself.
 */
import {
  FORMAT_VERSION,
  HEADER_BYTES,
  RECORD_KEY_BYTES,
  RECORD_MAGIC,
  isTombstone,
  recordBytes,
  recordExpiresMs,
  recordGeneration,
  recordKeyGeneration,
  recordKeyModelId,
  recordModelId,
} from '../spill/format.js';
import type { ModelEntry } from './cache-dir.js';
import { hex } from './common.js';

export type RecordState =
  | { kind: 'live' }
  | { kind: 'expired' }
  | { kind: 'tombstone' }
  /** Under an older generation of its model: unreachable, deleted by the next sweep. */
  | { kind: 'unreachable' }
  | { kind: 'corrupt'; why: string };

const LIVE: RecordState = { kind: 'live' };
const EXPIRED: RecordState = { kind: 'expired' };
const TOMBSTONE: RecordState = { kind: 'tombstone' };
const UNREACHABLE: RecordState = { kind: 'unreachable' };

/**
 * What a stored (key, value) is. Corrupt: a key that is not 24 bytes, a value that is not a
 * whole record of this format (magic, version, header size, length against its dims), a header
 * that disagrees with its key, a model id the catalog does not know, dims other than the
 * model's (current generation), or a float that is NaN or ±Infinity (the cache stores neither).
 */
export function classifyRecord(
  key: Uint8Array,
  value: Uint8Array,
  modelsById: ReadonlyMap<number, ModelEntry>,
  now: number,
): RecordState {
  const corrupt = (why: string): RecordState => ({ kind: 'corrupt', why });
  if (key.length !== RECORD_KEY_BYTES)
    return corrupt(`its key is ${key.length} bytes, not ${RECORD_KEY_BYTES}`);
  if (value.length < HEADER_BYTES)
    return corrupt(`its value is ${value.length} bytes, shorter than the ${HEADER_BYTES}-byte header`);
  if (value[0] !== RECORD_MAGIC)
    return corrupt(`bad magic byte 0x${value[0]!.toString(16).padStart(2, '0')}`);
  if (value[1] !== FORMAT_VERSION)
    return corrupt(`record format version ${value[1]}, expected ${FORMAT_VERSION}`);
  const headerBytes = value[2]! | (value[3]! << 8);
  if (headerBytes !== HEADER_BYTES) return corrupt(`header size ${headerBytes}, expected ${HEADER_BYTES}`);
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const dims = view.getUint32(4, true);
  if (value.length !== recordBytes(dims))
    return corrupt(`its value is ${value.length} bytes, but ${dims} dims need ${recordBytes(dims)}`);
  const modelId = recordKeyModelId(key);
  const generation = recordKeyGeneration(key);
  if (recordModelId(value) !== modelId)
    return corrupt(`its header names model id ${recordModelId(value)}, its key ${modelId}`);
  if (recordGeneration(value) !== generation)
    return corrupt(`its header names generation ${recordGeneration(value)}, its key ${generation}`);
  const model = modelsById.get(modelId);
  if (model === undefined) return corrupt(`model id ${modelId} is not in the model catalog`);
  if (isTombstone(value)) return TOMBSTONE;
  for (let i = 0; i < dims; i++) {
    if (!Number.isFinite(view.getFloat32(HEADER_BYTES + 4 * i, true)))
      return corrupt(`float ${i} of the vector is NaN or infinite`);
  }
  if (generation !== model.generation) return UNREACHABLE;
  if (model.dims !== 0 && dims !== model.dims)
    return corrupt(`it holds ${dims} dims, model '${model.name}' has ${model.dims}`);
  const expiresMs = recordExpiresMs(value);
  if (expiresMs !== 0 && expiresMs <= now) return EXPIRED;
  return LIVE;
}

/** How a report names a record: its model (name, or #id if unknown), generation and content key. */
export interface RecordName {
  model: string;
  modelId: number;
  generation: number;
  /** The 16-byte content key in hex (the whole key when it is not 24 bytes). */
  key: string;
}

export function recordName(key: Uint8Array, modelsById: ReadonlyMap<number, ModelEntry>): RecordName {
  if (key.length !== RECORD_KEY_BYTES) return { model: '?', modelId: -1, generation: -1, key: hex(key) };
  const modelId = recordKeyModelId(key);
  return {
    model: modelsById.get(modelId)?.name ?? `#${modelId}`,
    modelId,
    generation: recordKeyGeneration(key),
    key: hex(key.subarray(8)),
  };
}
