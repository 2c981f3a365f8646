import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import type { Logger } from 'pino';
import { DevServerError } from './errors';
import { SUNDIAL_SEARCH_ATTRIBUTES } from './search-attributes';

export interface DevServerOptions {
  /** Path of the Temporal CLI binary. */
  readonly cliPath: string;
  /** Folder for the SQLite file and the server's log; undefined keeps everything in memory. */
  readonly dataDir: string | undefined;
  readonly ip?: string;
  readonly port: number;
  /** Web UI port; undefined runs headless. */
  readonly uiPort: number | undefined;
  readonly namespace: string;
  /** How long to wait for the server to answer, in ms. @default 60000 */
  readonly readyTimeoutMs?: number;
  readonly logger: Logger;
}

/** A running `temporal server start-dev`. */
export interface DevServer {
  readonly address: string;
  readonly uiUrl: string | undefined;
  readonly pid: number;
  /** Stops the server: SIGTERM, then SIGKILL after `forceAfterMs`. */
  stop(forceAfterMs?: number): Promise<void>;
}

function lastLines(file: string | undefined, n: number): string {
  if (file === undefined) return '';
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-n).join('\n');
  } catch {
    return '';
  }
}

/**
 * Starts Temporal's dev server (SQLite persistence when `dataDir` is set) with Sundial's search
 * attributes registered, and waits until it answers.
 * @throws DevServerError when the process exits early or does not answer in time.
 */
export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const ip = opts.ip ?? '127.0.0.1';
  const args = ['server', 'start-dev', '--ip', ip, '--port', String(opts.port), '--namespace', opts.namespace, '--log-level', 'warn'];
  for (const key of SUNDIAL_SEARCH_ATTRIBUTES) args.push('--search-attribute', `${key.name}=Keyword`);
  if (opts.uiPort === undefined) args.push('--headless');
  else args.push('--ui-port', String(opts.uiPort));
  let logFile: string | undefined;
  let stdio: ['ignore', number | 'ignore', number | 'ignore'] = ['ignore', 'ignore', 'ignore'];
  let fd: number | undefined;
  if (opts.dataDir !== undefined) {
    mkdirSync(opts.dataDir, { recursive: true });
    args.push('--db-filename', path.join(opts.dataDir, 'temporal.db'));
    logFile = path.join(opts.dataDir, 'temporal-server.log');
    fd = openSync(logFile, 'a');
    stdio = ['ignore', fd, fd];
  }
  const child: ChildProcess = spawn(opts.cliPath, args, { stdio });
  if (fd !== undefined) closeSync(fd);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let hasExited = false;
  void exited.then(() => (hasExited = true));
  const address = `${ip}:${opts.port}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 60_000);
  opts.logger.debug({ address, args }, 'starting Temporal dev server');
  for (;;) {
    if (hasExited) {
      throw new DevServerError(`the Temporal dev server exited before it was ready (is port ${opts.port} free?)\n${lastLines(logFile, 15)}`);
    }
    try {
      const conn = await Connection.connect({ address, connectTimeout: 1_000 });
      try {
        // The frontend answers before the namespace is registered; wait for the namespace.
        await conn.workflowService.describeNamespace({ namespace: opts.namespace });
      } finally {
        await conn.close();
      }
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new DevServerError(`the Temporal dev server at ${address} did not become ready: ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  const uiUrl = opts.uiPort === undefined ? undefined : `http://${ip === '0.0.0.0' ? '127.0.0.1' : ip}:${opts.uiPort}`;
  return {
    address,
    uiUrl,
    pid: child.pid ?? -1,
    async stop(forceAfterMs = 10_000) {
      if (hasExited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), forceAfterMs);
      await exited;
      clearTimeout(timer);
    },
  };
}
