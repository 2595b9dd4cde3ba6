// A minimal Redis client for the peer benchmark: RESP2 over one TCP socket, pipelined.
//
// Why not a client library: none is a dependency, and the benchmark needs only GET, SET, INFO,
// DBSIZE, FLUSHALL and SHUTDOWN. Why pipelining: a Redis user moving vectors in bulk sends a
// batch of commands before reading replies (or uses MGET/MSET); one round trip per key would
// measure loopback latency, not Redis. Plain .mjs so worker threads can load it too.
import net from 'node:net';

const CRLF = Buffer.from('\r\n');

/** Encodes one command as a RESP array of bulk strings (args: string | Buffer | Uint8Array). */
function encode(args) {
  const parts = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b =
      typeof a === 'string'
        ? Buffer.from(a)
        : Buffer.isBuffer(a)
          ? a
          : Buffer.from(a.buffer, a.byteOffset, a.byteLength);
    parts.push(Buffer.from(`$${b.length}\r\n`), b, CRLF);
  }
  return parts;
}

/**
 * Parses one reply from buf at offset; returns [value, nextOffset] or undefined if the reply is
 * not complete yet. Bulk strings come back as Buffers (sub-views of buf: copy before the next
 * read), errors as Error objects, null bulk as null.
 */
function parse(buf, at) {
  if (at >= buf.length) return undefined;
  const eol = buf.indexOf(CRLF, at);
  if (eol < 0) return undefined;
  const type = buf[at];
  const line = buf.toString('latin1', at + 1, eol);
  switch (type) {
    case 0x2b: // '+'
      return [line, eol + 2];
    case 0x2d: // '-'
      return [new Error(line), eol + 2];
    case 0x3a: // ':'
      return [Number(line), eol + 2];
    case 0x24: {
      // '$'
      const len = Number(line);
      if (len < 0) return [null, eol + 2];
      const end = eol + 2 + len;
      if (end + 2 > buf.length) return undefined;
      return [buf.subarray(eol + 2, end), end + 2];
    }
    case 0x2a: {
      // '*'
      const n = Number(line);
      if (n < 0) return [null, eol + 2];
      const out = [];
      let p = eol + 2;
      for (let i = 0; i < n; i++) {
        const r = parse(buf, p);
        if (r === undefined) return undefined;
        out.push(r[0]);
        p = r[1];
      }
      return [out, p];
    }
    default:
      throw new Error(`RESP: unexpected reply type byte 0x${type.toString(16)}`);
  }
}

export class RespClient {
  /** Connects to 127.0.0.1:port. */
  static connect(port, host = '127.0.0.1') {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host });
      socket.setNoDelay(true);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RespClient(socket));
      });
      socket.once('error', reject);
    });
  }

  constructor(socket) {
    this.socket = socket;
    this.waiting = [];
    this.rest = Buffer.alloc(0);
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('error', (err) => this.failAll(err));
    socket.on('close', () => this.failAll(new Error('RESP: connection closed')));
  }

  onData(chunk) {
    let buf = this.rest.length === 0 ? chunk : Buffer.concat([this.rest, chunk]);
    let at = 0;
    while (this.waiting.length > 0) {
      const r = parse(buf, at);
      if (r === undefined) break;
      at = r[1];
      const value = r[0];
      // Copy bulk replies out: buf is reused by the next data event.
      const settle = this.waiting.shift();
      settle(Buffer.isBuffer(value) ? Buffer.from(value) : value);
    }
    this.rest = at === buf.length ? Buffer.alloc(0) : buf.subarray(at);
  }

  failAll(err) {
    const w = this.waiting;
    this.waiting = [];
    for (const settle of w) settle(err);
  }

  /** Sends every command, then resolves with every reply in order (errors as Error values). */
  pipeline(commands) {
    const chunks = [];
    const replies = new Array(commands.length);
    let left = commands.length;
    const done = new Promise((resolve) => {
      if (left === 0) resolve(replies);
      commands.forEach((cmd, i) => {
        for (const p of encode(cmd)) chunks.push(p);
        this.waiting.push((value) => {
          replies[i] = value;
          if (--left === 0) resolve(replies);
        });
      });
    });
    this.socket.write(Buffer.concat(chunks));
    return done;
  }

  /** One command; rejects on an error reply. */
  async call(...args) {
    const [reply] = await this.pipeline([args]);
    if (reply instanceof Error) throw reply;
    return reply;
  }

  close() {
    this.socket.removeAllListeners('close');
    this.socket.end();
    this.socket.destroy();
  }
}
