// Types for resp.mjs.
export type RespValue = string | number | Buffer | null | Error | RespValue[];

export class RespClient {
  static connect(port: number, host?: string): Promise<RespClient>;
  /** Sends every command, then resolves with every reply in order (errors as Error values). */
  pipeline(commands: ReadonlyArray<ReadonlyArray<string | Uint8Array>>): Promise<RespValue[]>;
  /** One command; rejects on an error reply. */
  call(...args: Array<string | Uint8Array>): Promise<RespValue>;
  close(): void;
}
