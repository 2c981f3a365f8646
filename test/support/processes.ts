import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { projectRoot } from '../../src/util/paths';

const ROOT = projectRoot();

/** A Sundial entry point running as a child process, with its JSON log lines collected. */
export interface SundialProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly lines: Array<Record<string, unknown>>;
  /** Raw stdout and stderr text. */
  output(): string;
  /** Resolves with the first log line matching, or rejects after timeoutMs. */
  waitForLog(match: (line: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>>;
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
}

/** The egress allow-list of test processes: loopback, where the tests' dependencies listen. */
export const TEST_HTTP_ALLOW = '127.0.0.0/8,::1';

/**
 * Starts `dist/src/main/<entry>.js` with the given environment added, or with `viaNpm` the npm
 * script a user types (`npm start`, `npm run worker`), to test what npm does with signals.
 */
export function startSundial(
  entry: 'worker' | 'api' | 'embedded',
  env: Record<string, string>,
  opts: { viaNpm?: boolean } = {},
): SundialProcess {
  const [command, args] = opts.viaNpm
    ? ['npm', ['run', '--silent', entry === 'embedded' ? 'start' : entry]]
    : [process.execPath, [path.join(ROOT, 'dist', 'src', 'main', `${entry}.js`)]];
  const child = spawn(command, args, {
    cwd: ROOT,
    // The SDK's metrics port is fixed by default; tests that want it give their own. The tests'
    // dependencies listen on loopback, which the egress policy refuses unless allowed.
    env: {
      ...process.env,
      LOG_LEVEL: 'info',
      SUNDIAL_SDK_METRICS_ADDRESS: 'off',
      SUNDIAL_HTTP_ALLOW: TEST_HTTP_ALLOW,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so a test's clean-up can kill npm and the node it started together.
    detached: true,
  });
  const lines: Array<Record<string, unknown>> = [];
  let raw = '';
  let pending = '';
  const waiters: Array<{
    match: (l: Record<string, unknown>) => boolean;
    resolve: (l: Record<string, unknown>) => void;
  }> = [];
  child.stdout!.on('data', (chunk: Buffer) => {
    raw += chunk.toString();
    pending += chunk.toString();
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    for (const part of parts) {
      if (part.trim() === '') continue;
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(part) as Record<string, unknown>;
      } catch {
        line = { unparsed: part };
      }
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.match(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  child.stderr!.on('data', (chunk: Buffer) => (raw += chunk.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  return {
    child,
    pid: child.pid!,
    lines,
    output: () => raw,
    exited,
    waitForLog(match, timeoutMs) {
      const seen = lines.find(match);
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`no matching log line within ${timeoutMs} ms; output so far:\n${raw.slice(-3000)}`)),
          timeoutMs,
        );
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`process exited (${code}) before the expected log line; output:\n${raw.slice(-3000)}`));
        });
        waiters.push({
          match,
          resolve: (l) => {
            clearTimeout(timer);
            resolve(l);
          },
        });
      });
    },
  };
}

/** SIGKILLs the process and everything in its group (npm, its shell and node), if still there. */
export function killGroup(p: SundialProcess): void {
  try {
    process.kill(-p.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export const FIXTURES = path.join(ROOT, 'dist', 'test', 'fixtures');
