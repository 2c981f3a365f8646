import { isAlive, startSundial, type SundialProcess } from './processes';

/** How long a worker process may take to come up on a loaded two-core machine. */
export const WORKER_START_TIMEOUT_MS = 120_000;

/** A worker process the fleet started, and whether it has said `worker running`. */
export interface FleetMember {
  readonly proc: SundialProcess;
  readonly startedAt: number;
  /** Settles when the worker logs `worker running`; rejects if it exits first or is too slow. */
  readonly running: Promise<unknown>;
  isRunning(): boolean;
}

/**
 * A set of `npm run worker` processes on one task queue that a test kills and replaces. Every
 * process it ever started is remembered, so `killAll` leaves none behind whatever happened.
 */
export class WorkerFleet {
  private readonly all: FleetMember[] = [];
  readonly members: FleetMember[] = [];

  constructor(private readonly env: Record<string, string>) {}

  /** Starts one more worker. */
  add(): FleetMember {
    const proc = startSundial('worker', this.env);
    let up = false;
    const running = proc
      .waitForLog((l) => l.msg === 'worker running', WORKER_START_TIMEOUT_MS)
      .then((line) => {
        up = true;
        return line;
      });
    // A worker killed before it came up rejects this; callers that care await it.
    running.catch(() => undefined);
    const member: FleetMember = { proc, startedAt: Date.now(), running, isRunning: () => up && isAlive(proc.pid) };
    this.all.push(member);
    this.members.push(member);
    return member;
  }

  /** Starts `n` workers and waits until all of them poll. */
  async start(n: number): Promise<void> {
    const started = Array.from({ length: n }, () => this.add());
    await Promise.all(started.map((m) => m.running));
  }

  /** Members that have come up and are still alive. */
  running(): FleetMember[] {
    return this.members.filter((m) => m.isRunning());
  }

  /**
   * Sends `signal` to the member and waits for it to exit; it leaves the fleet.
   * @returns the time the signal was sent (epoch ms) and the exit code or signal.
   */
  async stop(member: FleetMember, signal: NodeJS.Signals): Promise<{ at: number; exit: number | string }> {
    const at = Date.now();
    member.proc.child.kill(signal);
    const exit = await member.proc.exited;
    this.members.splice(this.members.indexOf(member), 1);
    return { at, exit };
  }

  /** SIGKILLs every process the fleet ever started that is still alive. */
  async killAll(): Promise<void> {
    await Promise.all(
      this.all.map(async (m) => {
        if (isAlive(m.proc.pid)) m.proc.child.kill('SIGKILL');
        await m.proc.exited;
      }),
    );
    this.members.length = 0;
  }

  /** SIGTERMs the members (a clean stop), SIGKILL after `timeoutMs`; returns their exit codes. */
  async stopAll(timeoutMs = 30_000): Promise<Array<number | string>> {
    const codes = await Promise.all(
      [...this.members].map(async (m) => {
        const timer = setTimeout(() => m.proc.child.kill('SIGKILL'), timeoutMs);
        const { exit } = await this.stop(m, 'SIGTERM');
        clearTimeout(timer);
        return exit;
      }),
    );
    return codes;
  }
}

/** Nearest-rank percentile; NaN for no values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** `n=12 p50 4.1 s p90 5.3 s max 6.0 s`, for a test's report line. */
export function distribution(valuesMs: readonly number[], ps: readonly number[] = [50, 90]): string {
  if (valuesMs.length === 0) return 'n=0';
  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  return [
    `n=${valuesMs.length}`,
    ...ps.map((p) => `p${p} ${s(percentile(valuesMs, p))}`),
    `max ${s(Math.max(...valuesMs))}`,
  ].join(' ');
}
