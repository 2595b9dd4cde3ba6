/**
 * One error class with stable codes. A miss, an eviction, an expiry or a spill is an outcome
 * counted in stats, never an exception: these codes are for misuse and for faults the caller
 * must hear about.
 */

export type EmbeddingCacheErrorCode =
  | 'ERR_INVALID_TEXT'
  | 'ERR_INVALID_VECTOR'
  | 'ERR_DIMENSION_MISMATCH'
  | 'ERR_VECTOR_TOO_LARGE'
  | 'ERR_CLOSED'
  | 'ERR_INVALID_HANDLE'
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_CAPACITY'
  | 'ERR_SPILL_OPEN'
  | 'ERR_SPILL_FORMAT'
  | 'ERR_EMBED_FAILED'
  | 'ERR_TIMEOUT';

export class EmbeddingCacheError extends Error {
  /** A stable code to branch on; the message is for people and may change. */
  readonly code: EmbeddingCacheErrorCode;

  constructor(code: EmbeddingCacheErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EmbeddingCacheError';
    this.code = code;
  }
}

/** Describes a value for an error message without dumping a whole vector or text. */
export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string')
    return value.length > 40 ? `a string of length ${value.length}` : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (typeof value === 'undefined') return 'undefined';
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  return `an object (${Object.prototype.toString.call(value)})`;
}

export function invalidText(value: unknown, where: string): EmbeddingCacheError {
  return new EmbeddingCacheError(
    'ERR_INVALID_TEXT',
    `${where}: text must be a string, got ${describe(value)}. Pass the chunk's text itself (convert numbers or buffers to strings first).`,
  );
}

export function closedError(op: string): EmbeddingCacheError {
  return new EmbeddingCacheError(
    'ERR_CLOSED',
    `${op}() was called after close(). Open a new cache with EmbeddingCache.open() or attach to a live handle.`,
  );
}

/** A bad argument: names the call, the rule it broke and what it got. */
export function argumentError(op: string, rule: string, got: unknown): EmbeddingCacheError {
  return new EmbeddingCacheError('ERR_INVALID_ARGUMENT', `${op}(): ${rule}, got ${describe(got)}.`);
}
