/**
 * Issue 12: whatever fails inside a run (a fallback, a bug in Sundial's workflow code), the run
 * ends with its outcome memo and final SundialStatus; a run whose retries fill its history
 * continues as new and is still one run, with every attempt counted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { defineJob } from '../../src/jobs/define';
import { JobRegistry } from '../../src/jobs/registry';
import { OUTCOME_MEMO_KEY, type JobRunInput, type RunOutcome, type RunSummary } from '../../src/jobs/run-types';
import { RunStore } from '../../src/runs/run-store';
import { startDevServer, type DevServer } from '../../src/temporal/dev-server';
import { SundialJobId, SundialStatus } from '../../src/temporal/search-attributes';
import { INTERNAL_ERROR } from '../../src/workflows/job-workflow';
import { freePort } from '../support/ports';
import { runOnce } from '../support/runs';
import {
  startTestWorker,
  testCliPath,
  testClient,
  testLogger,
  unique,
  waitFor,
  type TestWorker,
} from '../support/temporal';

/** A failed run's outcome from its failure, or the succeeded run's result. */
async function outcomeOf(run: Promise<RunOutcome>): Promise<RunOutcome> {
  try {
    return await run;
  } catch (err) {
    if (err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure)
      return err.cause.details?.[0] as RunOutcome;
    throw err;
  }
}

/** What the run left where listings and the Web UI read it: its memo and SundialStatus. */
async function recorded(
  client: Client,
  workflowId: string,
): Promise<{ summary: RunSummary | undefined; status: unknown }> {
  const d = await client.workflow.getHandle(workflowId).describe();
  return {
    summary: d.memo?.[OUTCOME_MEMO_KEY] as RunSummary | undefined,
    status: d.typedSearchAttributes.get(SundialStatus),
  };
}

const FAILURES_BEFORE_SUCCESS = 12;

describe('every run ends with an outcome', () => {
  // A server of this file's own that suggests continue-as-new after 40 events (4,096 by
  // default), so that a run with a dozen retries crosses it several times.
  let server: DevServer;
  let client: Client;
  let worker: TestWorker;
  let registry: JobRegistry;
  const taskQueue = unique('run-outcomes');
  const calls = new Map<string, number>();
  const count = (id: string) => {
    const n = (calls.get(id) ?? 0) + 1;
    calls.set(id, n);
    return n;
  };

  before(async () => {
    server = await startDevServer({
      cliPath: testCliPath(),
      dataDir: undefined,
      port: await freePort(),
      uiPort: undefined,
      namespace: 'default',
      logger: testLogger,
      dynamicConfig: { 'limit.historyCount.suggestContinueAsNew': 40 },
    });
    client = await testClient(undefined, server.address);
    registry = JobRegistry.create([
      defineJob({
        id: 'fallback-fails',
        schedule: { cron: '@yearly' },
        paused: true,
        breaker: { key: unique('fallback-fails'), failureThreshold: 1, openFor: '5m' },
        fallback: { type: 'function' },
        retry: { maximumAttempts: 1 },
        run: async () => {
          count('fallback-fails');
          throw new Error('the dependency is down');
        },
        fallbackRun: async () => {
          throw new TypeError('the fallback has a bug');
        },
      }),
      defineJob({
        id: 'long-retries',
        schedule: { cron: '@yearly' },
        paused: true,
        breaker: { key: unique('long-retries'), failureThreshold: 1_000, openFor: '5m' },
        retry: { initialInterval: '50ms', backoffCoefficient: 1, maximumAttempts: 0, jitter: 0 },
        run: async () => {
          if (count('long-retries') <= FAILURES_BEFORE_SUCCESS) throw new Error('not yet');
          return { attempt: calls.get('long-retries') };
        },
      }),
      defineJob({
        id: 'long-steps',
        schedule: { cron: '@yearly' },
        paused: true,
        workflow: 'flakyStepsWorkflow',
        args: { firstSuccess: FAILURES_BEFORE_SUCCESS + 1 },
        retry: { initialInterval: '50ms', backoffCoefficient: 1, maximumAttempts: 0, jitter: 0 },
      }),
    ]);
    worker = await startTestWorker(registry, taskQueue, {
      address: server.address,
      workflowsPath: require.resolve('../fixtures/long-retry-workflows'),
    });
  });
  after(async () => {
    await worker?.stop();
    await client?.connection.close();
    await server?.stop();
  });

  it('when the breaker is open and the fallback function fails, then the run ends failed with CircuitOpen, its memo and status', async () => {
    const first = await runOnce(client, registry, 'fallback-fails', taskQueue);
    assert.equal(first.status, 'failed', 'the first run fails and opens the breaker');
    const second = await runOnce(client, registry, 'fallback-fails', taskQueue);
    assert.equal(calls.get('fallback-fails'), 1, 'the open breaker kept the second run from the dependency');
    assert.equal(second.status, 'failed');
    assert.equal(second.status === 'failed' ? second.error.type : '', 'CircuitOpen');
    assert.match(
      second.status === 'failed' ? second.error.message : '',
      /fallback function failed: TypeError: the fallback has a bug/,
    );
    const { summary, status } = await recorded(client, second.workflowId);
    assert.equal(summary?.status, 'failed');
    assert.equal(status, 'failed');
  });

  it("when Sundial's workflow code meets a bug, then the run ends failed with SundialInternalError, its memo and status, and does not wedge", async () => {
    // A run input without its retry plan (as a bug, or an input from an incompatible release,
    // would give): the workflow code throws a TypeError, which before this change failed the
    // workflow task over and over until a fix was deployed.
    const input = {
      ...registry.get('fallback-fails')!.run,
      breaker: undefined,
      retry: undefined,
    } as unknown as JobRunInput;
    const workflowId = unique('bug');
    const outcome = await outcomeOf(
      client.workflow.execute('jobWorkflow', {
        taskQueue,
        workflowId,
        args: [input],
        typedSearchAttributes: [{ key: SundialJobId, value: 'fallback-fails' }],
        workflowExecutionTimeout: '60s',
      }),
    );
    assert.equal(outcome.status, 'failed');
    assert.equal(outcome.status === 'failed' ? outcome.error.type : '', INTERNAL_ERROR);
    assert.match(outcome.status === 'failed' ? outcome.error.message : '', /^TypeError: /);
    assert.equal(outcome.attempts, 0);
    const { summary, status } = await recorded(client, workflowId);
    assert.equal(summary?.status, 'failed');
    assert.equal(status, 'failed');
  });

  for (const jobId of ['long-retries', 'long-steps']) {
    it(`when unlimited retries fill the run's history (${jobId}), then it continues as new and stays one run with every attempt counted`, async () => {
      const outcome = await runOnce(client, registry, jobId, taskQueue);
      assert.equal(outcome.status, 'succeeded');
      assert.equal(outcome.attempts, FAILURES_BEFORE_SUCCESS + 1);
      assert.deepEqual(outcome.attemptOutcomes, {
        success: 1,
        retryable_error: FAILURES_BEFORE_SUCCESS,
        non_retryable_error: 0,
      });
      assert.ok(
        outcome.durationMs >= FAILURES_BEFORE_SUCCESS * 50,
        `the duration counts from the run's first start (${outcome.durationMs} ms)`,
      );
      if (jobId === 'long-steps')
        assert.deepEqual(
          outcome.status === 'succeeded' ? outcome.result : undefined,
          { attempt: FAILURES_BEFORE_SUCCESS + 1 },
          'the child of the last attempt answered',
        );
      // The run did continue as new (this can fail: with no continue-as-new there are none) ...
      const continued = await waitFor('the continued executions in visibility', 30_000, async () => {
        const n = (
          await client.workflow.count(`WorkflowId = "${outcome.workflowId}" AND ExecutionStatus = "ContinuedAsNew"`)
        ).count;
        return n > 0 ? n : undefined;
      });
      assert.ok(continued >= 2, `continued ${continued} times`);
      // ... and the runs API still shows one run, the last execution, with its outcome.
      const runs = new RunStore({ client, webUiUrl: 'http://ui.invalid' });
      const page = await waitFor('the finished run in visibility', 30_000, async () => {
        const p = await runs.list(jobId, { pageSize: 50 });
        return p.items.some((r) => r.workflowId === outcome.workflowId && r.status === 'succeeded') ? p : undefined;
      });
      const listed = page.items.filter((r) => r.workflowId === outcome.workflowId);
      assert.equal(listed.length, 1, 'one run, not one per execution');
      assert.equal(listed[0]!.attempts, FAILURES_BEFORE_SUCCESS + 1);
      assert.equal(listed[0]!.runId, outcome.runId);
    });
  }
});
