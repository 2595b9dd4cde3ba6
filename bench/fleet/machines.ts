/**
 * Parent side of the fleet: forks machine processes (machine.ts), waits until each has its cache
 * open, and sends them commands (protocol.ts). Every process forked here is tracked and
 * SIGKILLed if this process exits without closing it; a machine also exits by itself when its
 * IPC channel to us closes, so none outlives the bench or the demo.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Command, Commands, FromMachine, MachineParams, ToMachine } from './protocol.js';

const MACHINE = fileURLToPath(new URL('./machine.ts', import.meta.url));

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) {
    try {
      c.kill('SIGKILL');
    } catch {
      // gone already
    }
  }
});

export class Machine {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private exitError: Error | null = null;
  readonly ready: Promise<number>;

  constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    this.ready = new Promise<number>((resolve, reject) => {
      child.on('message', (raw) => {
        const msg = raw as FromMachine;
        if (msg.type === 'ready') {
          resolve(msg.pid);
          return;
        }
        const p = this.pending.get(msg.id);
        if (p === undefined) return;
        this.pending.delete(msg.id);
        if (msg.ok) p.resolve(msg.value);
        else p.reject(new Error(`machine ${name}: ${msg.error}`));
      });
      child.once('exit', (code, signal) => {
        live.delete(child);
        this.exitError = new Error(`machine ${name} exited (code ${code}, signal ${signal})`);
        reject(this.exitError);
        for (const p of this.pending.values()) p.reject(this.exitError);
        this.pending.clear();
      });
    });
    this.ready.catch(() => {}); // reported through call() or the caller's await
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  call<C extends Command>(cmd: C, arg?: Commands[C]['arg']): Promise<Commands[C]['value']> {
    if (this.exitError !== null) return Promise.reject(this.exitError);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      const msg: ToMachine = { type: 'call', id, cmd, arg };
      this.child.send(msg);
    });
  }

  /** Closes the cache and waits for the process to end (SIGKILL after `graceMs`). */
  async close(graceMs = 5000): Promise<void> {
    const exited = new Promise<void>((resolve) => {
      if (this.child.exitCode !== null || this.child.signalCode !== null) resolve();
      else this.child.once('exit', () => resolve());
    });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      if (this.exitError === null) await this.call('close').catch(() => {});
    } finally {
      await exited;
      clearTimeout(timer);
    }
  }

  kill(): void {
    this.child.kill('SIGKILL');
  }
}

/** Forks one process per params and resolves once every machine has its cache open. */
export async function startMachines(all: MachineParams[]): Promise<Machine[]> {
  const machines = all.map((p) => {
    const child = fork(MACHINE, [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'advanced',
    });
    live.add(child);
    const msg: ToMachine = { type: 'init', params: p };
    child.send(msg);
    return new Machine(p.name, child);
  });
  try {
    await Promise.all(machines.map((m) => m.ready));
  } catch (err) {
    for (const m of machines) m.kill();
    throw err;
  }
  return machines;
}

export async function closeMachines(machines: readonly Machine[]): Promise<void> {
  await Promise.all(machines.map((m) => m.close()));
}
