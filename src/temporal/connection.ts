import { readFile } from 'node:fs/promises';
import { Client, Connection, type TLSConfig } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { TemporalConfig, TemporalTls } from '../config/env';
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

/** Settings shared by the client and the worker's native connection. */
async function connectionOptions(cfg: TemporalConfig, address: string) {
  return {
    address,
    tls: await tlsOptions(cfg.tls),
    ...(cfg.apiKey !== undefined ? { apiKey: cfg.apiKey } : {}),
  };
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
 * Connects a client and checks that the namespace answers, within `connectTimeoutMs`.
 * @throws TemporalUnavailableError naming the address; never hangs.
 */
export async function connectClient(cfg: TemporalConfig, address: string): Promise<Client> {
  const options = await connectionOptions(cfg, address);
  return withDeadline(address, cfg.connectTimeoutMs, async () => {
    const connection = await Connection.connect({ ...options, connectTimeout: cfg.connectTimeoutMs });
    try {
      await connection.workflowService.describeNamespace({ namespace: cfg.namespace });
    } catch (err) {
      await connection.close();
      throw err;
    }
    return new Client({ connection, namespace: cfg.namespace });
  });
}

/**
 * The worker's connection, with the same bounded wait. Installs the Temporal runtime first,
 * with the SDK's Prometheus exporter on `sdkMetricsAddress` when given.
 */
export async function connectWorker(cfg: TemporalConfig, address: string, logger: Logger, sdkMetricsAddress?: string): Promise<NativeConnection> {
  installRuntime(logger, sdkMetricsAddress);
  const options = await connectionOptions(cfg, address);
  return withDeadline(address, cfg.connectTimeoutMs, () => NativeConnection.connect(options));
}
