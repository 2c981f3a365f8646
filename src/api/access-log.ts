import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';

/** Where the versioned API is mounted. */
export const API_PREFIX = '/api/v1';

/** A request id we accept from a client: short and printable, so it cannot forge log lines. */
const ACCEPTABLE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The route template that served a request (`/api/v1/jobs/:id`), never the raw path: raw paths
 * would give metrics a label per job id. Requests no route matched are `unmatched`.
 */
function routeOf(req: Request): string {
  const path = (req.route as { path?: unknown } | undefined)?.path;
  if (typeof path !== 'string') return 'unmatched';
  // Express restores req.baseUrl once the mounted router is done, so name the mount here.
  if (req.originalUrl.startsWith(`${API_PREFIX}/`)) return `${API_PREFIX}${path}`;
  return req.originalUrl.startsWith('/codec/') ? `/codec${path}` : path;
}

/**
 * Request id (X-Request-Id accepted or made, and returned), one access-log line and one
 * histogram observation per request, when the response is done.
 */
export function accessLog(logger: Logger, metrics: Metrics | undefined) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const given = req.header('x-request-id');
    const requestId = given !== undefined && ACCEPTABLE_ID.test(given) ? given : randomUUID();
    res.setHeader('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    res.once('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = routeOf(req);
      metrics?.httpRequestDuration.observe({ method: req.method, route, status: String(res.statusCode) }, seconds);
      logger.info(
        {
          request_id: requestId,
          method: req.method,
          route,
          status: res.statusCode,
          duration_ms: Math.round(seconds * 1000),
        },
        'request',
      );
    });
    next();
  };
}
