/**
 * Progress for long phases (the 1M-entry insert takes seconds, the full concurrency sweep
 * minutes). A cli-progress bar on a terminal; nothing when stderr is not a TTY (CI logs, or a
 * suite run by bench:check), so logs stay readable. Updates are throttled by the caller passing
 * the running count; the bar itself redraws at most a few times a second.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  update(value: number): void;
  stop(): void;
}

export function progress(label: string, total: number): Progress {
  if (!process.stderr.isTTY || process.env.BENCH_NO_PROGRESS === '1') {
    return { update() {}, stop() {} };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: `  ${label.padEnd(28)} {bar} {percentage}% | {value}/{total} | eta {eta}s`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return {
    update: (v) => bar.update(v),
    stop: () => bar.stop(),
  };
}
