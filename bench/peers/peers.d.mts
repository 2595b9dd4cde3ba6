// Types for peers.mjs (plain JS so that worker threads can load it).
import type { RespClient } from './resp.mjs';

export type PeerKind = 'embedcache' | 'lru-text' | 'lru-sha256' | 'map' | 'langchain' | 'lmdb' | 'redis';

export const PEER_KINDS: PeerKind[];
export const PEER_LABELS: Record<PeerKind, string>;

export interface PeerOptions {
  dims: number;
  /** Entries a bounded peer holds before it evicts. */
  capacity: number;
  /** The EmbeddingCache class, for 'embedcache'. */
  EmbeddingCache?: unknown;
  /** Attach to this cache handle instead of opening a new cache ('embedcache'). */
  handle?: unknown;
  /** maxBytes for a new embedcache. */
  maxBytes?: number;
  /** LMDB folder ('lmdb'). */
  path?: string;
  /** redis-server port on 127.0.0.1 ('redis'). */
  port?: number;
}

export interface Peer {
  kind: PeerKind;
  /** Whether the peer evicts past `capacity`. */
  bounded: boolean;
  /** Looks every text up; returns how many hit. */
  getMany(texts: readonly string[]): number | Promise<number>;
  setMany(texts: readonly string[], vecs: readonly Float32Array[]): void | Promise<void>;
  close(): Promise<void>;
  /** embedcache only. */
  cache?: { stats(): { memoryBytes: number; entries: number }; handle: unknown };
  /** lmdb only: bytes of B-tree pages in use. */
  storeBytes?(): number;
  /** redis only: INFO used_memory. */
  usedMemory?(): Promise<number>;
  client?: RespClient;
}

export function createPeer(kind: PeerKind, opts: PeerOptions): Promise<Peer>;
