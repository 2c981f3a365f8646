/**
 * Records the histories the replay test (test/unit/replay.test.ts) replays: one of each kind of
 * run the current workflow code produces, saved as `test/replay/histories/<label>.<scenario>.json`.
 * Run by hand, once per release (and after a workflow change, to record its new shape):
 *
 *   npm run replay:record -- [label] [scenario prefix]
 *
 * `label` defaults to the package version; with a scenario prefix (e.g. `audit-`), only the
 * histories of the scenarios whose names start with it are saved (a new workflow's first ones). It starts its own in-memory dev server (the same
 * dynamic configuration as every server Sundial starts) and an in-process worker, and takes
 * about a minute, most of it the breaker's 500 updates before its continue-as-new.
 */
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Client, Connection, WithStartWorkflowOperation, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { admitUpdate, BREAKER_WORKFLOW_TYPE, breakerWorkflowId, resetUpdate } from '../../src/breaker/contract';
import { AUDIT_WORKFLOW_TYPE, auditBeginSignal, auditEndSignal, auditWorkflowId } from '../../src/audit/contract';
import { defineJob, type DefinedJob } from '../../src/jobs/define';
import { PUBLIC_ONLY, withLoopback } from '../../src/egress/policy';
import { JobRegistry } from '../../src/jobs/registry';
import { JOB_WORKFLOW_TYPE, type HttpRequestPlan } from '../../src/jobs/run-types';
import { notifyStateWorkflowId, notifyWorkflowId } from '../../src/notify/plan';
import { createLogger } from '../../src/observability/logger';
import { toSchedule } from '../../src/schedules/mapping';
import { ensureTemporalCli } from '../../src/temporal/cli';
import { startDevServer } from '../../src/temporal/dev-server';
import { installRuntime } from '../../src/temporal/runtime';
import { SundialJobId } from '../../src/temporal/search-attributes';
import { projectRoot } from '../../src/util/paths';
import { createSundialWorker } from '../../src/worker/worker';
import { startScriptedDependency } from '../support/dependency';
import { freePort } from '../support/ports';
import { HISTORIES_DIR } from './histories-dir';
import { historyToJson } from './history-json';

const logger = createLogger(process.env.LOG_LEVEL ?? 'error');
const TASK_QUEUE = 'replay-recorder';
/** breakerWorkflow's EVENTS_BEFORE_CONTINUE, plus a margin. */
const UPDATES_BEFORE_CONTINUE = 510;
/** auditWorkflow's EVENTS_BEFORE_CONTINUE, plus a margin. */
const SIGNALS_BEFORE_CONTINUE = 510;

/** What the dependency answers per path: the first status until popped, the last one forever. */
const answers = new Map<string, number[]>();

function jobs(depUrl: string): DefinedJob[] {
  const hourly = { intervals: [{ every: '1h' }] };
  const fast = { initialInterval: '100ms', backoffCoefficient: 1, maximumAttempts: 3 };
  const step = (name: string): HttpRequestPlan => ({ url: `${depUrl}/${name}`, method: 'POST', headers: {}, timeoutMs: 5_000 });
  return [
    defineJob({ id: 'code-ok', schedule: hourly, paused: true, run: () => ({ ok: true }) }),
    defineJob({
      id: 'code-failed',
      schedule: hourly,
      retry: fast,
      run: (ctx) => {
        throw new Error(`attempt ${ctx.attempt} fails`);
      },
    }),
    defineJob({
      id: 'code-cancelled',
      schedule: hourly,
      run: (ctx) => new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(new Error('aborted')))),
    }),
    defineJob({ id: 'code-local-retried', schedule: hourly, retry: fast, execution: 'local', run: (ctx) => (ctx.attempt < 2 ? Promise.reject(new Error('first attempt fails')) : { ok: true }) }),
    defineJob({ id: 'http-local', schedule: hourly, http: { url: `${depUrl}/ok`, timeout: '5s' }, retry: fast, execution: 'local' }),
    defineJob({ id: 'http-ok', schedule: hourly, http: { url: `${depUrl}/ok`, timeout: '5s' }, retry: fast }),
    defineJob({ id: 'http-retried', schedule: hourly, http: { url: `${depUrl}/flaky`, timeout: '5s' }, retry: fast }),
    defineJob({ id: 'sequence', schedule: hourly, workflow: 'httpSequenceWorkflow', args: { steps: [step('a'), step('b')] }, retry: fast }),
    defineJob({
      id: 'breaker-cache',
      schedule: hourly,
      http: { url: `${depUrl}/cached`, timeout: '5s' },
      retry: fast,
      breaker: { key: 'replay-cache', failureThreshold: 1, openFor: '1h' },
      fallback: { type: 'cache' },
    }),
    defineJob({
      id: 'breaker-function',
      schedule: hourly,
      retry: fast,
      breaker: { key: 'replay-function', failureThreshold: 1, openFor: '1h' },
      fallback: { type: 'function' },
      run: () => {
        throw new Error('dependency down');
      },
      fallbackRun: () => ({ from: 'fallback' }),
    }),
    // The workflow's own retry loop taking its patched branch (sundial-breaker-failures-handled):
    // a jittered sleep between a failed attempt and a good one.
    defineJob({
      id: 'breaker-retried',
      schedule: hourly,
      retry: fast,
      breaker: { key: 'replay-retried', failureThreshold: 5, openFor: '1h' },
      run: (ctx) => (ctx.attempt < 2 ? Promise.reject(new Error('first attempt fails')) : { ok: true }),
    }),
    // Notifications (sundial-notify-after-run): a failed run reads the job's state and starts a
    // notification per event; a slow run fires late while it runs.
    defineJob({
      id: 'notify-failed',
      schedule: hourly,
      retry: { ...fast, maximumAttempts: 1 },
      notify: [{ on: ['failed', 'recovered', 'consecutive_failures:1'], to: { type: 'webhook', url: `${depUrl}/hook` } }],
      run: () => {
        throw new Error('fails, and tells');
      },
    }),
    defineJob({
      id: 'notify-late',
      schedule: hourly,
      notify: [{ on: ['late:1s'], to: { type: 'webhook', url: `${depUrl}/hook` } }],
      run: () => new Promise((r) => setTimeout(() => r({ ok: true }), 2_000)),
    }),
  ];
}

type Saved = Array<{ name: string; handle: WorkflowHandle; runId?: string }>;

async function settle(handle: WorkflowHandle): Promise<void> {
  try {
    await handle.result();
  } catch (err) {
    if (!(err instanceof WorkflowFailedError)) throw err;
  }
}

async function main(): Promise<void> {
  const label = process.argv[2] ?? (JSON.parse(readFileSync(path.join(projectRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  installRuntime(logger);
  const cli = await ensureTemporalCli();
  const server = await startDevServer({ cliPath: cli.path, dataDir: undefined, port: await freePort(), uiPort: undefined, namespace: 'default', logger });
  const dep = await startScriptedDependency(answers);
  answers.set('/flaky', [503, 200]);
  const registry = JobRegistry.create(jobs(dep.url));
  const connection = await Connection.connect({ address: server.address });
  const client = new Client({ connection });
  const native = await NativeConnection.connect({ address: server.address });
  const worker = await createSundialWorker({ connection: native, namespace: 'default', taskQueue: TASK_QUEUE, registry, logger, shutdownGraceMs: 1_000, egress: withLoopback(PUBLIC_ONLY) });
  const running = worker.run();
  const saved: Saved = [];
  const start = (jobId: string, name = jobId): Promise<WorkflowHandle> =>
    client.workflow.start(JOB_WORKFLOW_TYPE, {
      taskQueue: TASK_QUEUE,
      workflowId: `${name}-${label}`,
      args: [registry.get(jobId)!.run],
      typedSearchAttributes: [{ key: SundialJobId, value: jobId }],
    });
  const run = async (jobId: string, name = jobId): Promise<void> => {
    const handle = await start(jobId, name);
    await settle(handle);
    saved.push({ name, handle });
  };
  try {
    // A run started by its schedule, as every scheduled run is.
    const job = registry.get('code-ok')!;
    const schedule = await client.schedule.create(toSchedule(job, TASK_QUEUE, 'code').options);
    await schedule.trigger();
    for (;;) {
      const action = (await schedule.describe()).info.recentActions[0];
      if (action !== undefined) {
        const handle = client.workflow.getHandle(action.action.workflow.workflowId);
        await settle(handle);
        saved.push({ name: 'code-ok-scheduled', handle });
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    await schedule.delete();

    await run('code-ok');
    await run('code-failed');
    const cancelled = await start('code-cancelled');
    await new Promise((r) => setTimeout(r, 1_000));
    await cancelled.cancel();
    await settle(cancelled).catch(() => undefined);
    saved.push({ name: 'code-cancelled', handle: cancelled });
    await run('code-local-retried');
    await run('http-local');
    await run('http-ok');
    await run('http-retried');
    await run('sequence');
    saved.push({ name: 'sequence-child', handle: client.workflow.getHandle(`sequence-${label}/attempt-1`) });

    // Cache fallback: a success fills the cache; a failure opens the breaker, the retry is served from it.
    await run('breaker-cache', 'breaker-cache-succeeded');
    answers.set('/cached', [503]);
    await run('breaker-cache', 'breaker-cache-degraded');
    await run('breaker-function', 'breaker-function-degraded');
    saved.push({ name: 'breaker-entity-cache', handle: client.workflow.getHandle(breakerWorkflowId('replay-cache')) });
    await run('breaker-retried');

    await run('notify-failed', 'notify-run-failed');
    const notification = client.workflow.getHandle(notifyWorkflowId('notify-failed', (await client.workflow.getHandle(`notify-run-failed-${label}`).describe()).runId, 'failed'));
    await settle(notification);
    saved.push({ name: 'notify-delivery', handle: notification });
    saved.push({ name: 'notify-state', handle: client.workflow.getHandle(notifyStateWorkflowId('notify-failed')) });
    await run('notify-late');

    // A breaker entity long enough to continue as new, and its next run.
    const key = `replay-entity-${label}`;
    const config = { failureThreshold: 5, openForMs: 30_000, maxOpenForMs: 600_000, halfOpenProbes: 1 };
    await client.workflow.executeUpdateWithStart(admitUpdate, {
      args: [{ jobId: 'entity', config, leaseMs: 10_000 }],
      startWorkflowOperation: new WithStartWorkflowOperation(BREAKER_WORKFLOW_TYPE, {
        workflowId: breakerWorkflowId(key),
        taskQueue: TASK_QUEUE,
        workflowIdConflictPolicy: 'USE_EXISTING',
        args: [{ key }],
      }),
    });
    const entity = client.workflow.getHandle(breakerWorkflowId(key));
    const firstRunId = (await entity.describe()).runId;
    for (let sent = 1; sent < UPDATES_BEFORE_CONTINUE; sent += 10) {
      await Promise.all(Array.from({ length: 10 }, () => entity.executeUpdate(resetUpdate, { args: [{ config }] })));
    }
    saved.push({ name: 'breaker-entity-before-continue', handle: client.workflow.getHandle(breakerWorkflowId(key), firstRunId) });
    const latest = client.workflow.getHandle(breakerWorkflowId(key));
    if ((await latest.describe()).runId === firstRunId) throw new Error('the breaker entity did not continue as new');
    saved.push({ name: 'breaker-entity-after-continue', handle: latest });

    // An audit entity long enough to continue as new, its next run, and one that ends after its job's delete.
    // As the API sends them: a create is recorded with the job, and every later write carries it.
    const by = { keyId: 'c0ffee000000', role: 'write' as const };
    const auditJob = `replay-audit-${label}`;
    const created = { id: 'create', by, at: '2026-12-02T00:00:00.000Z', diff: { id: auditJob } };
    const audit = await client.workflow.signalWithStart(AUDIT_WORKFLOW_TYPE, {
      workflowId: auditWorkflowId(auditJob),
      taskQueue: TASK_QUEUE,
      args: [{ jobId: auditJob }],
      signal: auditBeginSignal,
      signalArgs: [{ id: 'patch-0', action: 'patch', by, request: { description: 'first' }, created }],
    });
    const auditFirstRun = (await audit.describe()).runId;
    await audit.signal(auditEndSignal, { id: 'patch-0', outcome: 'applied', status: 200, diff: { description: 'first' } });
    for (let sent = 2; sent < SIGNALS_BEFORE_CONTINUE; sent += 20) {
      await Promise.all(
        Array.from({ length: 10 }, async (_, i) => {
          const id = `patch-${sent + 2 * i}`;
          await audit.signal(auditBeginSignal, { id, action: 'patch', by, request: { description: id }, created });
          await audit.signal(auditEndSignal, { id, outcome: 'applied', status: 200, diff: { description: id } });
        }),
      );
    }
    saved.push({ name: 'audit-entity-before-continue', handle: client.workflow.getHandle(auditWorkflowId(auditJob), auditFirstRun) });
    await audit.signal(auditBeginSignal, { id: 'delete', action: 'delete', by, created });
    await audit.signal(auditEndSignal, { id: 'delete', outcome: 'applied', status: 204, diff: null });
    // The entity continues as new when its worker has handled the signals, a moment after they are sent.
    for (let waited = 0; (await audit.describe()).runId === auditFirstRun; waited += 500) {
      if (waited >= 30_000) throw new Error('the audit entity did not continue as new');
      await new Promise((r) => setTimeout(r, 500));
    }
    saved.push({ name: 'audit-entity-after-continue', handle: client.workflow.getHandle(auditWorkflowId(auditJob)) });
    const endedJob = `replay-audit-ended-${label}`;
    const ended = await client.workflow.signalWithStart(AUDIT_WORKFLOW_TYPE, {
      workflowId: auditWorkflowId(endedJob),
      taskQueue: TASK_QUEUE,
      args: [{ jobId: endedJob, keepAfterDeleteMs: 1_000 }],
      signal: auditBeginSignal,
      // A job created and deleted with nothing between: the delete carries the creation in.
      signalArgs: [{ id: 'delete', action: 'delete', by, created: { ...created, diff: { id: endedJob } } }],
    });
    await ended.signal(auditEndSignal, { id: 'delete', outcome: 'applied', status: 204, diff: null });
    await ended.result();
    saved.push({ name: 'audit-entity-ended', handle: ended });

    const only = process.argv[3];
    mkdirSync(HISTORIES_DIR, { recursive: true });
    for (const { name, handle } of saved.filter((s) => only === undefined || s.name.startsWith(only))) {
      const file = path.join(HISTORIES_DIR, `${label}.${name}.json`);
      writeFileSync(file, `${historyToJson(handle.workflowId, await handle.fetchHistory())}\n`);
      process.stdout.write(`${path.relative(projectRoot(), file)}\n`);
    }
    await client.workflow.getHandle(auditWorkflowId(auditJob)).terminate('recorded').catch(() => undefined);
    for (const id of [breakerWorkflowId(key), breakerWorkflowId('replay-cache'), breakerWorkflowId('replay-function'), breakerWorkflowId('replay-retried'), notifyStateWorkflowId('notify-failed')]) {
      await client.workflow.getHandle(id).terminate('recorded').catch(() => undefined);
    }
  } finally {
    worker.shutdown();
    await running;
    await native.close();
    await connection.close();
    await dep.close();
    await server.stop();
  }
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
