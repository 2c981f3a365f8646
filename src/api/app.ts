import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { Client } from '@temporalio/client';
import type { JobRegistry } from '../jobs/registry';
import type { Logger } from '../observability/logger';
import { BreakerStore } from '../breaker/store';
import { AuditStore } from '../audit/store';
import { RunStore } from '../runs/run-store';
import { TickLedger } from '../ticks/ledger';
import { JobStore } from '../schedules/job-store';
import { DEFAULT_API_TEMPORAL_TIMEOUT_MS, type ApiKey } from '../config/env';
import { PUBLIC_ONLY, type EgressPolicy } from '../egress/policy';
import swaggerUi from 'swagger-ui-express';
import type { Metrics } from '../observability/metrics';
import { accessLog, API_PREFIX } from './access-log';
import { apiKeyAuth } from './auth';
import { codecRoutes } from './codec';
import { openApiDocument } from './openapi';
import { errorHandler } from './errors';
import {
  JSON_MEDIA_TYPE,
  jsonBodiesOnly,
  loopbackOnly,
  MERGE_PATCH_MEDIA_TYPE,
  safeJsonBodies,
} from './request-guards';
import { sendProblem } from './problem';
import { apiRoutes } from './routes';

export interface ApiDeps {
  readonly client: Client;
  readonly logger: Logger;
  readonly registry: JobRegistry;
  readonly taskQueue: string;
  /** Base URL of the Temporal Web UI, for `webUrl` deep links. */
  readonly webUiUrl: string;
  /** How long one request may wait on Temporal before it answers 503, in ms. @default 5000 */
  readonly temporalTimeoutMs?: number;
  /** API keys; none means open (the config allows that on loopback only). */
  readonly apiKeys?: readonly ApiKey[];
  /**
   * The process's metrics; /metrics serves its registry as it is (the job metrics in it are
   * kept current by the process's collector: see startJobMetricsCollector).
   */
  readonly metrics?: Metrics;
  /** How long /readyz waits for Temporal, in ms. @default 2000 */
  readonly readinessTimeoutMs?: number;
  /**
   * Browser origins (`http://host:port`) a keyless API serves besides its own, e.g. a Web UI
   * that calls it. With API keys, origins are not checked. @default none
   */
  readonly allowedOrigins?: readonly string[];
  /**
   * The workers' egress policy: an HTTP job whose URL is a literal address it refuses is a 400.
   * @default public addresses only
   */
  readonly egress?: EgressPolicy;
}

/** The largest request body accepted; larger ones get 413. */
export const BODY_LIMIT = '64kb';

/** Builds the Express app. No listening here: see ./server. */
export function createApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(accessLog(deps.logger, deps.metrics));
  // The codec endpoint, when the client encrypts payloads: before the API's body parser, as its
  // bodies (pages of history payloads) are larger than the API's, and before the keyless guard,
  // as the Web UI calls it from its own origin (codecRoutes has its own CORS and loopback checks).
  const codecs = deps.client.options.loadedDataConverter.payloadCodecs;
  if (codecs.length > 0) {
    app.use(
      '/codec',
      codecRoutes({
        codecs,
        namespace: deps.client.options.namespace,
        webUiUrl: deps.webUiUrl,
        apiKeys: deps.apiKeys ?? [],
      }),
    );
  }
  // Without keys, only this machine's own clients: see loopbackOnly (DNS rebinding, web pages).
  if ((deps.apiKeys ?? []).length === 0) app.use(loopbackOnly({ allowedOrigins: deps.allowedOrigins ?? [] }));
  app.use(jsonBodiesOnly());
  app.use(express.json({ limit: BODY_LIMIT, type: [JSON_MEDIA_TYPE, MERGE_PATCH_MEDIA_TYPE] }));
  app.use(safeJsonBodies());

  const jobs = new JobStore({
    client: deps.client,
    registry: deps.registry,
    taskQueue: deps.taskQueue,
    webUiUrl: deps.webUiUrl,
    egress: deps.egress ?? PUBLIC_ONLY,
  });
  const runs = new RunStore({ client: deps.client, webUiUrl: deps.webUiUrl });
  const breakers = new BreakerStore(deps.client);
  const audit = new AuditStore({
    client: deps.client,
    taskQueue: deps.taskQueue,
    onEndFailed: (jobId, err) =>
      deps.logger.warn(
        { job_id: jobId, error_type: (err as Error)?.name, error_msg: (err as Error)?.message },
        'audit: the end of a change was not recorded (its entry stays pending)',
      ),
  });
  const ticks = new TickLedger({ client: deps.client, jobs, runs });

  // A scrape only serializes: the job metrics are computed in the background, so it answers in
  // the same time however many jobs there are.
  app.get('/metrics', async (_req, res) => {
    const registry = deps.metrics?.registry;
    if (registry === undefined) {
      sendProblem(res, {
        type: 'about:blank',
        title: 'Not Found',
        status: 404,
        detail: 'metrics are not enabled in this process',
      });
      return;
    }
    res.type(registry.contentType).send(await registry.metrics());
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    const timeoutMs = deps.readinessTimeoutMs ?? 2_000;
    try {
      await deps.client.connection.withDeadline(Date.now() + timeoutMs, () =>
        deps.client.connection.workflowService.getSystemInfo({}),
      );
      res.json({ status: 'ready', temporal: 'ok' });
    } catch (err) {
      res.setHeader('Retry-After', '5');
      sendProblem(res, {
        type: 'https://sundial.dev/problems/temporal-unavailable',
        title: 'Temporal is not reachable',
        status: 503,
        detail: `Temporal did not answer within ${timeoutMs} ms: ${(err as Error).message}`,
      });
    }
  });

  // The API's contract, built from the schemas the routes validate with; open, like the docs.
  const openapi = openApiDocument();
  app.get('/openapi.json', (_req, res) => {
    res.json(openapi);
  });
  app.use('/docs', swaggerUi.serve, swaggerUi.setup(openapi, { customSiteTitle: 'Sundial API' }));

  // Every Temporal call a request makes shares one deadline: a Temporal that is down is a 503
  // after temporalTimeoutMs, never a hanging request.
  const timeoutMs = deps.temporalTimeoutMs ?? DEFAULT_API_TEMPORAL_TIMEOUT_MS;
  app.use(API_PREFIX, (_req: Request, res: Response, next: NextFunction) => {
    void deps.client.withDeadline(
      Date.now() + timeoutMs,
      () =>
        new Promise<void>((resolve) => {
          res.once('finish', resolve);
          res.once('close', resolve);
          next();
        }),
    );
  });
  app.use(
    API_PREFIX,
    apiKeyAuth(deps.apiKeys ?? []),
    apiRoutes(jobs, runs, deps.registry, breakers, audit, ticks, { temporalTimeoutMs: timeoutMs }),
  );

  app.use((req, res) => {
    sendProblem(res, {
      type: 'about:blank',
      title: 'Not Found',
      status: 404,
      detail: `no route for ${req.method} ${req.path}`,
    });
  });
  app.use(errorHandler(deps.logger));
  return app;
}
