import { randomUUID } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import { z, type ZodType } from 'zod';
import type { JobRegistry } from '../jobs/registry';
import { httpRequestSchema, JOB_ID_PATTERN } from '../jobs/spec';
import { createdEntry, type AuditAction, type AuditCreated } from '../audit/contract';
import { auditCreated, type AuditStore } from '../audit/store';
import { createMergePatch } from '../util/merge-patch';
import type { BreakerStore } from '../breaker/store';
import type { JobListItem, JobStore, JobView } from '../schedules/job-store';
import { JobNotFoundError } from '../schedules/errors';
import type { RunStore } from '../runs/run-store';
import type { TickLedger } from '../ticks/ledger';
import {
  backfillBody,
  breakerKeyParam,
  cancelBody,
  historyQuery,
  jobIdParam,
  jobListQuery,
  noteBody,
  notificationsQuery,
  parse,
  patchQuery,
  runQuery,
  runsQuery,
  terminateBody,
  ticksQuery,
  triggerBody,
  triggerHeaders,
  workflowIdParam,
} from './validation';
import { RequestValidationError, toProblem } from './errors';
import { callerOf } from './auth';
import { redactSpec } from './redact';

/** The API's Job: the spec as written (header values redacted), plus what Temporal knows about its schedule. */
export function jobBody(view: JobView | JobListItem) {
  const { version: _version, spec, ...rest } = view as JobListItem & { version?: string };
  return { ...redactSpec(spec), ...rest };
}

function sendJob(res: Response, view: JobView, status = 200): void {
  res.status(status).setHeader('ETag', `"${view.version}"`).json(jobBody(view));
}

/** The If-Match header's entity tag, unquoted; undefined when absent or `*`. */
function ifMatch(req: Request): string | undefined {
  const header = req.header('if-match');
  if (header === undefined || header.trim() === '*') return undefined;
  return header
    .trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1');
}

const body = (req: Request): unknown => req.body ?? {};

const jsonSchema = (schema: ZodType): Record<string, unknown> => {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  return rest;
};

/** What a change did, for its audit entry: see AuditEnd. */
interface Change<T> {
  readonly result: T;
  readonly status: number;
  readonly diff?: unknown;
  readonly details?: Record<string, unknown>;
}

/** /api/v1 routes over the job and run stores; every write to a job is audited. */
export function apiRoutes(
  jobs: JobStore,
  runs: RunStore,
  registry: JobRegistry,
  breakers: BreakerStore,
  audit: AuditStore,
  ticks: TickLedger,
  opts: { readonly temporalTimeoutMs: number },
): Router {
  // A trigger waits for its run to appear for at most half the request's Temporal deadline,
  // leaving the rest for the calls around the wait (the audit, the trigger itself).
  const triggerWaitMs = Math.floor(opts.temporalTimeoutMs / 2);
  const r = Router();

  /**
   * The job's creation as its schedule recorded it (a create does not write to the audit entity),
   * or undefined: no such job, a job from code or from an older Sundial, or (for any write but a
   * delete) it cannot be read now, and the next write takes it in.
   * @throws the read's error for a delete: the schedule it removes is the creation's only record,
   *   so a delete that cannot take it in first is not made (503), rather than losing it.
   */
  async function createdOf(jobId: string, purpose: AuditAction | 'read'): Promise<AuditCreated | undefined> {
    let created: Awaited<ReturnType<JobStore['created']>>;
    try {
      created = await jobs.created(jobId);
    } catch (err) {
      if (purpose === 'delete' && !(err instanceof JobNotFoundError)) throw err;
      return undefined;
    }
    return created === undefined ? undefined : auditCreated(created.record, createMergePatch({}, created.spec) ?? {});
  }

  /**
   * Creates a job, recorded with the job in the same write (its schedule's memo) rather than in
   * the audit entity: starting an entity per job halved the create rate (bench/README.md,
   * "Scale"). A refused create changes nothing and is recorded in the entity afterwards.
   */
  async function createRecorded(res: Response, id: string, spec: unknown): Promise<JobView> {
    try {
      return await jobs.create(spec, { id: randomUUID(), by: callerOf(res), at: new Date().toISOString() });
    } catch (err) {
      try {
        const record = await audit.begin(id, 'create', callerOf(res), undefined, await createdOf(id, 'create'));
        await record.end({ outcome: 'failed', status: toProblem(err)?.status ?? 500 });
      } catch {
        // The answer is the refusal either way; an unrecorded refusal changed nothing.
      }
      throw err;
    }
  }

  /**
   * Records a change in the job's audit before making it (no record, no change: 503), then how it
   * ended: applied with its diff, or failed with the status the route answers (docs/audit.md).
   * The job's creation goes along, so the entity has it first and keeps it after a delete.
   */
  async function audited<T>(
    res: Response,
    jobId: string,
    action: AuditAction,
    request: unknown,
    change: () => Promise<Change<T>>,
  ): Promise<T> {
    const record = await audit.begin(jobId, action, callerOf(res), request, await createdOf(jobId, action));
    let done: Change<T>;
    try {
      done = await change();
    } catch (err) {
      await record.end({ outcome: 'failed', status: toProblem(err)?.status ?? 500 });
      throw err;
    }
    await record.end({
      outcome: 'applied',
      status: done.status,
      ...(done.diff === undefined ? {} : { diff: done.diff }),
      ...(done.details === undefined ? {} : { details: done.details }),
    });
    return done.result;
  }

  r.get('/breakers', async (_req, res) => {
    res.json({ items: await breakers.list() });
  });
  r.get('/breakers/:key', async (req, res) => {
    const { key } = parse(breakerKeyParam, req.params, 'path');
    res.json(await breakers.get(key));
  });
  r.post('/breakers/:key/reset', async (req, res) => {
    const { key } = parse(breakerKeyParam, req.params, 'path');
    res.json(await breakers.reset(key));
  });
  r.post('/breakers/:key/open', async (req, res) => {
    const { key } = parse(breakerKeyParam, req.params, 'path');
    res.json(await breakers.open(key));
  });

  // Computed once: job types are fixed for the life of the process.
  const jobTypes = [
    ...registry.jobTypes().map((t) => ({
      name: t.name,
      kind: 'code' as const,
      description: t.description,
      argsSchema: t.argsSchema === undefined ? {} : jsonSchema(t.argsSchema),
    })),
    {
      name: 'http',
      kind: 'http' as const,
      description: 'Calls a URL: no code. `task: { type: "http", request }`.',
      argsSchema: jsonSchema(httpRequestSchema),
    },
  ];
  r.get('/job-types', (_req, res) => {
    res.json({ items: jobTypes });
  });

  r.get('/jobs', async (req, res) => {
    const q = parse(jobListQuery, req.query, 'query');
    const page = await jobs.list({
      pageSize: q.pageSize,
      pageToken: q.pageToken,
      filter: {
        origin: q.origin,
        paused: q.paused === undefined ? undefined : q.paused === 'true',
        idPrefix: q.idPrefix,
      },
    });
    res.json({ items: page.items.map(jobBody), nextPageToken: page.nextPageToken });
  });

  r.post('/jobs', async (req, res) => {
    if (req.body === undefined || typeof req.body !== 'object' || Array.isArray(req.body) || req.body === null) {
      throw new RequestValidationError([{ path: 'body', message: 'must be a JobSpec object' }]);
    }
    const id = (req.body as { id?: unknown }).id;
    // A spec without a valid id has no job to file an audit entry under: it is refused (400) unrecorded.
    const view =
      typeof id === 'string' && JOB_ID_PATTERN.test(id)
        ? await createRecorded(res, id, req.body)
        : await jobs.create(req.body);
    res.setHeader('Location', `${req.baseUrl}/jobs/${encodeURIComponent(view.id)}`);
    sendJob(res, view, 201);
  });

  r.get('/jobs/:id', async (req, res) => {
    const { id } = parse(jobIdParam, req.params, 'path');
    const view = await jobs.get(id);
    const key = (view.spec as { breaker?: { key?: string } }).breaker?.key;
    const breakerState = key === undefined ? undefined : ((await breakers.find(key)) ?? null);
    res
      .setHeader('ETag', `"${view.version}"`)
      .json({ ...jobBody(view), ...(breakerState === undefined ? {} : { breakerState }) });
  });

  r.patch('/jobs/:id', async (req, res) => {
    const { id } = parse(jobIdParam, req.params, 'path');
    const q = parse(patchQuery, req.query, 'query');
    if (req.body === undefined || typeof req.body !== 'object' || Array.isArray(req.body) || req.body === null) {
      throw new RequestValidationError([{ path: 'body', message: 'must be a JSON merge patch object' }]);
    }
    const match = ifMatch(req);
    const view = await audited(res, id, 'patch', req.body, async () => {
      const { view: after, previous } = await jobs.patchDetailed(id, req.body, {
        ...(match === undefined ? {} : { ifMatch: match }),
        force: q.force === 'true',
      });
      return { result: after, status: 200, diff: createMergePatch(previous, after.spec) ?? {} };
    });
    sendJob(res, view);
  });

  r.delete('/jobs/:id', async (req, res) => {
    const { id } = parse(jobIdParam, req.params, 'path');
    await audited(res, id, 'delete', undefined, async () => {
      await jobs.delete(id);
      return { result: undefined, status: 204, diff: null };
    });
    res.status(204).end();
  });

  r.post('/jobs/:id/pause', async (req, res) => {
    const { id } = parse(jobIdParam, req.params, 'path');
    const { note } = parse(noteBody, body(req), 'body');
    const view = await audited(res, id, 'pause', note === undefined ? undefined : { note }, async () => {
      const after = await jobs.pause(id, note);
      return { result: after, status: 200, diff: { state: after.state } };
    });
    sendJob(res, view);
  });

  r.post('/jobs/:id/unpause', async (req, res) => {
    const { id } = parse(jobIdParam, req.params, 'path');
    const { note } = parse(noteBody, body(req), 'body');
    const view = await audited(res, id, 'unpause', note === undefined ? undefined : { note }, async () => {
      const after = await jobs.unpause(id, note);
      return { result: after, status: 200, diff: { state: after.state } };
    });
    sendJob(res, view);
  });

  r.post('/jobs/:id/trigger', async (req, res) => {
    const { id } = parse(jobIdParam, req.params, 'path');
    const { overlap, args, reason } = parse(triggerBody, body(req), 'body');
    const { 'Idempotency-Key': key } = parse(
      triggerHeaders,
      { 'Idempotency-Key': req.header('idempotency-key') },
      'header',
    );
    const request = {
      ...(overlap === undefined ? {} : { overlap }),
      ...(args === undefined ? {} : { args }),
      ...(reason === undefined ? {} : { reason }),
      ...(key === undefined ? {} : { idempotencyKey: key }),
    };
    if (key !== undefined || args !== undefined || reason !== undefined) {
      // Started directly, not through the schedule (which can neither carry args nor record who
      // asked). With a key, safe to send again: a retry answers with the run the first one started.
      if (overlap !== undefined && overlap !== 'allow_all') {
        throw new RequestValidationError([
          {
            path: 'overlap',
            message:
              'only allow_all can be combined with an Idempotency-Key, args or reason (such a trigger starts its run directly, not through the schedule)',
          },
        ]);
      }
      const once = await audited(res, id, 'trigger', request, async () => {
        const started = await jobs.startRun(id, { key, args, reason, by: callerOf(res) });
        return {
          result: started,
          status: 202,
          details: { workflowId: started.workflowId, ...(started.replayed ? { replayed: true } : {}) },
        };
      });
      if (once.replayed) res.setHeader('Idempotent-Replayed', 'true');
      res.status(202).json({ workflowId: once.workflowId });
      return;
    }
    const workflowId = await audited(res, id, 'trigger', request, async () => {
      const started = await jobs.trigger(id, overlap, triggerWaitMs);
      return { result: started, status: 202, details: { workflowId: started ?? null } };
    });
    res.status(202).json({
      workflowId: workflowId ?? null,
      ...(workflowId === undefined
        ? {
            note: `the trigger was accepted, but no new run appeared within ${triggerWaitMs} ms: the server is slow to start it (see the job's runs), or it was a second trigger within the same second, which Temporal drops`,
          }
        : {}),
    });
  });

  r.post('/jobs/:id/backfill', async (req, res) => {
    const { id } = parse(jobIdParam, req.params, 'path');
    const b = parse(backfillBody, body(req), 'body');
    await audited(res, id, 'backfill', b, async () => {
      await jobs.backfill(id, new Date(b.start), new Date(b.end), b.overlap);
      return { result: undefined, status: 202 };
    });
    res.status(202).json({ jobId: id, start: b.start, end: b.end });
  });

  r.get('/jobs/:id/history', async (req, res) => {
    const { id } = parse(jobIdParam, req.params, 'path');
    const q = parse(historyQuery, req.query, 'query');
    // The job's creation is in the entity once a later write took it in; until then it is the
    // newest entry, listed from the job's schedule (first page only: it is newer than them all).
    const created = q.pageToken === undefined ? await createdOf(id, 'read') : undefined;
    const page = await audit.page(id, {
      pageSize: q.pageSize,
      ...(q.pageToken === undefined ? {} : { before: Number(q.pageToken) }),
      ...(created === undefined ? {} : { hasId: created.id }),
    });
    if (page === undefined && created === undefined) {
      await jobs.get(id); // 404 for an unknown job; a job never changed over the API has no entries
      res.json({ jobId: id, items: [], nextPageToken: null, dropped: 0 });
      return;
    }
    let items = page?.items ?? [];
    let nextBefore = page?.nextBefore ?? null;
    if (created !== undefined && page?.hasId !== true) {
      items = [createdEntry(created, (items[0]?.seq ?? 0) + 1), ...items];
      if (items.length > q.pageSize) {
        items = items.slice(0, q.pageSize);
        nextBefore = items[items.length - 1]!.seq;
      }
    }
    res.json({
      jobId: id,
      items,
      nextPageToken: nextBefore === null ? null : String(nextBefore),
      dropped: page?.dropped ?? 0,
    });
  });

  r.get('/jobs/:id/runs', async (req, res) => {
    const { id } = parse(jobIdParam, req.params, 'path');
    const q = parse(runsQuery, req.query, 'query');
    await jobs.get(id); // 404 for an unknown job rather than an empty list
    res.json(
      await runs.list(id, {
        pageSize: q.pageSize,
        ...(q.pageToken === undefined ? {} : { pageToken: q.pageToken }),
        ...(q.status === undefined ? {} : { status: q.status }),
      }),
    );
  });

  r.get('/jobs/:id/notifications', async (req, res) => {
    const { id } = parse(jobIdParam, req.params, 'path');
    const q = parse(notificationsQuery, req.query, 'query');
    await jobs.get(id); // 404 for an unknown job rather than an empty list
    res.json(
      await runs.notifications(id, {
        pageSize: q.pageSize,
        ...(q.pageToken === undefined ? {} : { pageToken: q.pageToken }),
      }),
    );
  });

  r.get('/jobs/:id/ticks', async (req, res) => {
    const { id } = parse(jobIdParam, req.params, 'path');
    const q = parse(ticksQuery, req.query, 'query');
    res.json(
      await ticks.list(id, {
        from: new Date(q.from),
        to: new Date(q.to),
        pageSize: q.pageSize,
        pageToken: q.pageToken,
      }),
    );
  });

  r.get('/runs/:workflowId', async (req, res) => {
    const { workflowId } = parse(workflowIdParam, req.params, 'path');
    const { runId } = parse(runQuery, req.query, 'query');
    res.json(await runs.get(workflowId, runId));
  });

  r.post('/runs/:workflowId/cancel', async (req, res) => {
    const { workflowId } = parse(workflowIdParam, req.params, 'path');
    const { runId } = parse(runQuery, req.query, 'query');
    parse(cancelBody, body(req), 'body');
    await runs.cancel(workflowId, runId);
    res.status(202).json({ workflowId });
  });

  r.post('/runs/:workflowId/terminate', async (req, res) => {
    const { workflowId } = parse(workflowIdParam, req.params, 'path');
    const { runId } = parse(runQuery, req.query, 'query');
    const { reason } = parse(terminateBody, body(req), 'body');
    await runs.terminate(workflowId, reason, runId);
    res.status(202).json({ workflowId });
  });

  return r;
}
