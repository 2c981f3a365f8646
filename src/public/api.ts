/**
 * `sundial/api`: Sundial's REST API as an Express app, to mount in an Express app of your own
 * (`app.use('/scheduler', api.app)`) or to listen on its own.
 */
import type { Express } from 'express';
import { loadConfig } from '../config/env';
import { JobRegistry } from '../jobs/registry';
import { configuredApiUrl } from '../main/jobs';
import { createApiService } from '../main/api';
import { createLogger, type Logger } from '../observability/logger';
import type { JobsOption } from './worker';

export interface CreateApiOptions {
  /**
   * Your code jobs, so that `GET /api/v1/job-types` lists their types and argument schemas and
   * API-created jobs of those types are validated. @default none
   */
  readonly jobs?: JobsOption;
  /** Where the configuration is read from (TEMPORAL_ADDRESS, SUNDIAL_API_KEYS, ...). @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** @default JSON lines on stdout at LOG_LEVEL */
  readonly logger?: Logger;
}

export interface SundialApi {
  /**
   * The app: `/api/v1/...` (jobs, runs, breakers), `/healthz`, `/readyz`, `/metrics`,
   * `/openapi.json`, `/docs`. API keys (SUNDIAL_API_KEYS) are checked by the app itself.
   */
  readonly app: Express;
  /** Stops the job-metrics collector and closes the Temporal connection; stop your server first. */
  close(): Promise<void>;
}

/**
 * Connects to Temporal and builds the API's Express app. It does not listen: mount it, or call
 * `app.listen(port)`.
 * @throws ConfigError naming the bad environment variable.
 * @throws JobDefinitionError naming every bad job and field.
 * @throws TemporalUnavailableError when Temporal does not answer within TEMPORAL_CONNECT_TIMEOUT.
 */
export async function createApi(options: CreateApiOptions = {}): Promise<SundialApi> {
  // The API's rules apply: without SUNDIAL_API_KEYS, HOST must be loopback (and the app itself
  // refuses requests whose Host or Origin is not), whoever's server it is mounted in.
  const config = loadConfig(options.env ?? process.env);
  const logger = options.logger ?? createLogger(config.logLevel);
  const jobs =
    typeof options.jobs === 'function' ? options.jobs({ apiUrl: configuredApiUrl(config) }) : (options.jobs ?? []);
  const registry = JobRegistry.create([...jobs], { egress: config.egress });
  return createApiService(config, logger, registry);
}
