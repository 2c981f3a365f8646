import { randomUUID } from 'node:crypto';
import { InterceptingCall, status, type Interceptor } from '@grpc/grpc-js';
import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { PUBLIC_ONLY, withLoopback, type EgressPolicy } from '../../src/egress/policy';
import type { DefinedJob } from '../../src/jobs/define';
import { JobRegistry } from '../../src/jobs/registry';
import { createLogger, type Logger } from '../../src/observability/logger';
import { sundialDataConverter, type CodecKey } from '../../src/temporal/codec';
import { installRuntime } from '../../src/temporal/runtime';
import { startWorker, type RunningWorker } from '../../src/testing/worker';

/** The dev server `npm test` started for this run. */
export function testAddress(): string {
  const address = process.env.SUNDIAL_TEST_TEMPORAL_ADDRESS;
  if (address === undefined) throw new Error('SUNDIAL_TEST_TEMPORAL_ADDRESS is not set: run the tests with `npm test`');
  return address;
}

export function testCliPath(): string {
  const cli = process.env.SUNDIAL_TEST_TEMPORAL_CLI;
  if (cli === undefined) throw new Error('SUNDIAL_TEST_TEMPORAL_CLI is not set: run the tests with `npm test`');
  return cli;
}

export const testLogger: Logger = createLogger(process.env.LOG_LEVEL ?? 'error');

/** A name no other test uses: for task queues, job ids, schedule ids. */
export function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** A client of the test server; with `codecKeys`, its payloads go through the codec as Sundial's do. */
export async function testClient(codecKeys?: readonly CodecKey[], address = testAddress()): Promise<Client> {
  const connection = await Connection.connect({ address });
  return new Client({ connection, namespace: 'default', dataConverter: sundialDataConverter(codecKeys) });
}

/** The gRPC method a call is for, by its short name (`DescribeSchedule`). */
const methodOf = (options: Parameters<Interceptor>[0]): string => options.method_definition.path.split('/').pop() ?? '';

/** A client on the run's server whose calls pass through `interceptors` (the first outermost). */
async function interceptedClient(interceptors: Interceptor[]): Promise<Client> {
  const connection = await Connection.connect({ address: testAddress(), interceptors });
  return new Client({ connection, namespace: 'default' });
}

/** A client that counts the gRPC calls it makes, by method name (`DescribeSchedule`, ...). */
export async function countingClient(): Promise<{ client: Client; calls: Map<string, number> }> {
  const calls = new Map<string, number>();
  const counter: Interceptor = (options, nextCall) => {
    calls.set(methodOf(options), (calls.get(methodOf(options)) ?? 0) + 1);
    return new InterceptingCall(nextCall(options));
  };
  return { client: await interceptedClient([makeGrpcRetryInterceptor(defaultGrpcRetryOptions()), counter]), calls };
}

/**
 * A client whose next calls of the named gRPC methods fail with UNAVAILABLE, as a Temporal that
 * drops a call would answer: `failNext('DescribeSchedule', 1)` fails the next describe only.
 */
export async function faultyClient(): Promise<{ client: Client; failNext: (method: string, count: number) => void }> {
  const pending = new Map<string, number>();
  const faults: Interceptor = (options, nextCall) => {
    const method = methodOf(options);
    const left = pending.get(method) ?? 0;
    if (left === 0) return new InterceptingCall(nextCall(options));
    pending.set(method, left - 1);
    return new InterceptingCall(nextCall(options), {
      start: (metadata, _listener, next) =>
        next(metadata, {
          onReceiveStatus: (received, nextStatus) =>
            nextStatus({ ...received, code: status.UNAVAILABLE, details: `test: ${method} failed on purpose` }),
        }),
    });
  };
  // Outermost, so that the retry interceptor inside it does not hide the failure.
  const client = await interceptedClient([faults, makeGrpcRetryInterceptor(defaultGrpcRetryOptions())]);
  return { client, failNext: (method, count) => pending.set(method, count) };
}

/** The tests' egress policy: public addresses and loopback, where their dependencies listen. */
export const TEST_EGRESS: EgressPolicy = withLoopback(PUBLIC_ONLY);

export type TestWorker = RunningWorker;

/** An in-process Sundial worker on its own task queue, serving the given jobs; `egress` defaults to {@link TEST_EGRESS}, the server to the run's. */
export async function startTestWorker(
  jobs: DefinedJob[] | JobRegistry,
  taskQueue: string,
  opts: {
    shutdownGraceMs?: number;
    egress?: EgressPolicy;
    logger?: Logger;
    secrets?: ReadonlyMap<string, string>;
    codecKeys?: readonly CodecKey[];
    address?: string;
    webUiUrl?: string;
    workflowsPath?: string;
  } = {},
): Promise<TestWorker> {
  const registry = jobs instanceof JobRegistry ? jobs : JobRegistry.create(jobs);
  installRuntime(testLogger);
  const connection = await NativeConnection.connect({ address: opts.address ?? testAddress() });
  const running = await startWorker({
    connection,
    namespace: 'default',
    taskQueue,
    registry,
    logger: opts.logger ?? testLogger,
    shutdownGraceMs: opts.shutdownGraceMs ?? 2_000,
    egress: opts.egress ?? TEST_EGRESS,
    ...(opts.secrets === undefined ? {} : { secrets: opts.secrets }),
    ...(opts.codecKeys === undefined ? {} : { codecKeys: opts.codecKeys }),
    ...(opts.webUiUrl === undefined ? {} : { webUiUrl: opts.webUiUrl }),
    ...(opts.workflowsPath === undefined ? {} : { workflowsPath: opts.workflowsPath }),
  }).catch(async (err: unknown) => {
    await connection.close();
    throw err;
  });
  return {
    worker: running.worker,
    async stop() {
      await running.stop();
      await connection.close();
    },
  };
}

/** Polls `check` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined> | T | undefined,
  everyMs = 200,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
