import { readFile } from 'node:fs/promises';
import { Client, Connection, type TLSConfig } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { TemporalConfig, TemporalTls } from '../config/env';
import { sundialDataConverter } from './codec';
import { TemporalUnavailableError } from './errors';
import { installRuntime } from './runtime';
import type { Logger } from '../observability/logger';

async function tlsOptions(tls: TemporalTls): Promise<TLSConfig | false> {
  if (!tls.enabled) return false;
  const [crt, key, ca] = await Promise.all([
    tls.clientCertFile === undefined ? undefined : readFile(tls.clientCertFile),
    tls.clientKeyFile === undefined ? undefined : readFile(tls.clientKeyFile),
    tls.caFile === undefined ? undefined : readFile(tls.caFile),
  ]);
  return {
    ...(crt !== undefined && key !== undefined ? { clientCertPair: { crt, key } } : {}),
    ...(ca !== undefined ? { serverRootCACertificate: ca } : {}),
    ...(tls.serverName !== undefined ? { serverNameOverride: tls.serverName } : {}),
  };
}

/**
 * Settings shared by the client and the worker's native connection, per address. The TLS files
 * are read once, before any connection attempt: a missing file is its own error, not a timeout.
 */
async function connectionOptions(cfg: TemporalConfig) {
  const tls = await tlsOptions(cfg.tls);
  return (address: string) => ({ address, tls, ...(cfg.apiKey !== undefined ? { apiKey: cfg.apiKey } : {}) });
}

async function withDeadline<T>(address: string, timeoutMs: number, attempt: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TemporalUnavailableError(address, timeoutMs)), timeoutMs);
  });
  try {
    return await Promise.race([attempt(), timeout]);
  } catch (err) {
    if (err instanceof TemporalUnavailableError) throw err;
    throw new TemporalUnavailableError(address, timeoutMs, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Tries `addresses` in order and returns the first `attempt` that succeeds within the deadline.
 * Each address gets its own `connectTimeoutMs`; a refused connection fails fast.
 * @throws TemporalUnavailableError naming every address tried, with the last failure as cause.
 */
async function firstThatAnswers<T>(
  addresses: readonly string[],
  timeoutMs: number,
  attempt: (address: string) => Promise<T>,
): Promise<{ value: T; address: string }> {
  if (addresses.length === 0) throw new TemporalUnavailableError('(no address)', timeoutMs);
  let last: unknown;
  for (const address of addresses) {
    try {
      return { value: await withDeadline(address, timeoutMs, () => attempt(address)), address };
    } catch (err) {
      last = err;
    }
  }
  if (addresses.length === 1) throw last;
  throw new TemporalUnavailableError(addresses.join(','), timeoutMs, { cause: last });
}

/**
 * Connects a client through the first of `addresses` that answers and checks that the namespace
 * exists there, each address within `connectTimeoutMs`. Its payloads go through the codec when
 * `cfg.codecKeys` are set.
 * @throws TemporalUnavailableError naming the address(es); never hangs.
 */
export async function connectClient(cfg: TemporalConfig, addresses: readonly string[]): Promise<Client> {
  const options = await connectionOptions(cfg);
  const { value } = await firstThatAnswers(addresses, cfg.connectTimeoutMs, async (address) => {
    const connection = await Connection.connect({ ...options(address), connectTimeout: cfg.connectTimeoutMs });
    try {
      await connection.workflowService.describeNamespace({ namespace: cfg.namespace });
    } catch (err) {
      await connection.close();
      throw err;
    }
    return new Client({ connection, namespace: cfg.namespace, dataConverter: sundialDataConverter(cfg.codecKeys) });
  });
  return value;
}

/**
 * The worker's connection, through the first of `addresses` that answers, with the same bounded
 * wait. Installs the Temporal runtime first, with the SDK's Prometheus exporter on
 * `sdkMetricsAddress` when given.
 * @throws TemporalUnavailableError naming the address(es); never hangs.
 */
export async function connectWorker(
  cfg: TemporalConfig,
  addresses: readonly string[],
  logger: Logger,
  sdkMetricsAddress?: string,
): Promise<{ connection: NativeConnection; address: string }> {
  installRuntime(logger, sdkMetricsAddress);
  const options = await connectionOptions(cfg);
  const { value, address } = await firstThatAnswers(addresses, cfg.connectTimeoutMs, (addr) =>
    NativeConnection.connect(options(addr)),
  );
  return { connection: value, address };
}
