import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { Client } from '@temporalio/client';
import type { Logger } from '../observability/logger';
import { sendProblem } from './problem';

export interface ApiDeps {
  readonly client: Client;
  readonly logger: Logger;
  /** How long /readyz waits for Temporal, in ms. @default 2000 */
  readonly readinessTimeoutMs?: number;
}

/** Builds the Express app. No listening here: see ./server. */
export function createApp(deps: ApiDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '256kb' }));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    const timeoutMs = deps.readinessTimeoutMs ?? 2_000;
    try {
      await deps.client.connection.withDeadline(Date.now() + timeoutMs, () => deps.client.connection.workflowService.getSystemInfo({}));
      res.json({ status: 'ready', temporal: 'ok' });
    } catch (err) {
      sendProblem(res, {
        type: 'https://sundial.dev/problems/temporal-unavailable',
        title: 'Temporal is not reachable',
        status: 503,
        detail: `Temporal did not answer within ${timeoutMs} ms: ${(err as Error).message}`,
      });
    }
  });

  app.use((req, res) => {
    sendProblem(res, { type: 'about:blank', title: 'Not Found', status: 404, detail: `no route for ${req.method} ${req.path}` });
  });

  // Express 5 passes async rejections here; the body never carries internals.
  app.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const status = typeof (err as { status?: unknown }).status === 'number' ? (err as { status: number }).status : 500;
    if (status >= 500) deps.logger.error({ err }, 'request failed');
    sendProblem(res, {
      type: 'about:blank',
      title: status >= 500 ? 'Internal Server Error' : 'Bad Request',
      status,
      detail: status >= 500 ? 'an unexpected error occurred; see the server log' : (err as Error).message,
    });
  });
  return app;
}
