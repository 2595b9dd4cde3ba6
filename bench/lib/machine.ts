/**
 * What a figure was measured on. Every results file carries this block, because an ops/s figure
 * without its machine means nothing: the report prints it above each table and bench:check
 * warns when the baseline came from another CPU.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';

export interface MachineInfo {
  /** Logical cores Node may use (os.availableParallelism()). */
  cores: number;
  cpuModel: string;
  /** MHz reported by the first core (0 where the OS does not say). */
  cpuMHz: number;
  totalMemoryBytes: number;
  platform: string;
  arch: string;
  osRelease: string;
  node: string;
  v8: string;
  /** Version of embedcache from package.json. */
  embedcache: string;
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  let version = 'unknown';
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: string;
    };
    version = pkg.version ?? 'unknown';
  } catch {
    // A missing package.json only loses the version label.
  }
  return {
    cores: os.availableParallelism(),
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cpuMHz: cpus[0]?.speed ?? 0,
    totalMemoryBytes: os.totalmem(),
    platform: process.platform,
    arch: process.arch,
    osRelease: os.release(),
    node: process.version,
    v8: process.versions.v8,
    embedcache: version,
  };
}

/** One line for a table caption: "2 cores · AMD EPYC 7B13 · 23.5 GiB · Node v20.20.2". */
export function machineLine(m: MachineInfo): string {
  const gib = (m.totalMemoryBytes / 1024 ** 3).toFixed(1);
  return `${m.cores} cores · ${m.cpuModel} · ${gib} GiB · Node ${m.node} (${m.platform}-${m.arch}) · embedcache ${m.embedcache}`;
}

/**
 * CPU time used so far by the calling process's main thread alone, in ms, from Linux's
 * /proc/self/task/<pid>/stat (user + system, 10 ms ticks); undefined elsewhere. Node 20 has no
 * per-thread CPU clock, and process.cpuUsage() counts every worker thread too.
 */
export function mainThreadCpuMs(): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces, hence the last ')'): utime is the
    // 12th, stime the 13th.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/** USER_HZ: 100 on every Linux architecture Node supports. */
const TICKS_PER_SECOND = 100;
