/**
 * Client-side failover between the frontends of one Temporal cluster, for workers.
 *
 * The SDK's connections take one address. A cluster of several server processes has several
 * frontends; when the one a worker polls through dies, the worker would wait for it forever.
 * With TEMPORAL_ADDRESS listing several frontends, the worker probes its frontend and, when it
 * stops answering, connects through the next one that answers and hands the new connection to
 * the running worker (the SDK's `Worker.connection` setter): polling resumes without a restart,
 * and running activities keep running. A load balancer or a DNS name over all frontends does
 * the same job outside Sundial; this is for deployments without one.
 */
import type { NativeConnection, Worker } from '@temporalio/worker';
import type { TemporalConfig } from '../config/env';
import type { Logger } from '../observability/logger';
import { connectWorker } from './connection';

/** Tuning of {@link followFrontends}. */
export interface FrontendFailoverOptions {
  /** How often the current frontend is probed, in ms. @default 1000 */
  readonly probeEveryMs?: number;
  /** How long one probe may take before it counts as failed, in ms. @default 2000 */
  readonly probeTimeoutMs?: number;
  /** Consecutive failed probes before switching. @default 2 */
  readonly failuresBeforeSwitch?: number;
}

const defaults: Required<FrontendFailoverOptions> = {
  probeEveryMs: 1_000,
  probeTimeoutMs: 2_000,
  failuresBeforeSwitch: 2,
};

/** A running failover loop. */
export interface FrontendFailover {
  /** The frontend the worker talks through now. */
  current(): string;
  /** The worker's connection now (the one to close once the worker has stopped). */
  connection(): NativeConnection;
  /** Stops probing; settles when the loop has ended. Does not close any connection. */
  stop(): Promise<void>;
}

/** The addresses to try after `current`, in list order, wrapping around. */
export function nextAddresses(addresses: readonly string[], current: string): string[] {
  const at = addresses.indexOf(current);
  return [...addresses.slice(at + 1), ...addresses.slice(0, Math.max(at, 0))].filter((a) => a !== current);
}

/**
 * Probes the worker's frontend every `probeEveryMs` and, after `failuresBeforeSwitch` failed
 * probes in a row, moves the worker to the next of `addresses` that answers. Logs each switch.
 */
export function followFrontends(args: {
  worker: Worker;
  connection: NativeConnection;
  address: string;
  addresses: readonly string[];
  temporal: TemporalConfig;
  logger: Logger;
  options?: FrontendFailoverOptions;
}): FrontendFailover {
  const opts = { ...defaults, ...args.options };
  let current = args.address;
  let connection = args.connection;
  let stopped = false;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });

  async function probe(conn: NativeConnection): Promise<boolean> {
    // The native client retries an unavailable server internally, past a gRPC deadline; a
    // timer of our own bounds the probe.
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), opts.probeTimeoutMs)));
    const answered = conn
      .withDeadline(Date.now() + opts.probeTimeoutMs, () => conn.workflowService.getSystemInfo({}))
      .then(
        () => true,
        () => false,
      );
    try {
      return await Promise.race([answered, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  async function switchFrontend(): Promise<boolean> {
    // Bounded: each candidate gets the connect timeout once, then the loop probes again.
    for (const candidate of nextAddresses(args.addresses, current)) {
      if (stopped) return false;
      let next: NativeConnection;
      try {
        ({ connection: next } = await connectWorker(
          { ...args.temporal, connectTimeoutMs: Math.min(args.temporal.connectTimeoutMs, opts.probeTimeoutMs * 2) },
          [candidate],
          args.logger,
        ));
      } catch {
        continue;
      }
      if (!(await probe(next)) || stopped) {
        await next.close().catch(() => undefined);
        continue;
      }
      const previous = connection;
      try {
        args.worker.connection = next;
      } catch (err) {
        // The worker is shutting down (or has stopped): nothing to move.
        args.logger.warn({ error_msg: (err as Error).message }, 'could not move the worker to another frontend');
        await next.close().catch(() => undefined);
        return false;
      }
      connection = next;
      args.logger.warn(
        { from: current, to: candidate },
        'Temporal frontend stopped answering: worker switched to another frontend',
      );
      current = candidate;
      // Not awaited: closing a connection to a dead server must not hold up the loop or stop().
      void previous.close().catch(() => undefined);
      return true;
    }
    return false;
  }

  const loop = (async () => {
    let failures = 0;
    while (!stopped) {
      await sleep(opts.probeEveryMs);
      if (stopped) break;
      if (await probe(connection)) {
        failures = 0;
        continue;
      }
      failures++;
      if (failures < opts.failuresBeforeSwitch) continue;
      if (await switchFrontend()) failures = 0;
      else
        args.logger.warn(
          { frontend: current, tried: nextAddresses(args.addresses, current) },
          'Temporal frontend not answering and no other frontend answered; will retry',
        );
    }
  })();

  return {
    current: () => current,
    connection: () => connection,
    async stop() {
      stopped = true;
      wake?.();
      await loop;
    },
  };
}
