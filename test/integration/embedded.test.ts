import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { sampleValue } from '../support/exposition';
import { freePort, portOpen } from '../support/ports';
import { FIXTURES, killGroup, startSundial, type SundialProcess } from '../support/processes';
import { testCliPath, waitFor } from '../support/temporal';

async function completedRuns(address: string, jobId: string): Promise<string[]> {
  const connection = await Connection.connect({ address });
  try {
    const client = new Client({ connection });
    const ids: string[] = [];
    for await (const wf of client.workflow.list({
      query: `SundialJobId = "${jobId}" AND ExecutionStatus = "Completed"`,
    }))
      ids.push(wf.workflowId);
    return ids;
  } finally {
    await connection.close();
  }
}

const WRITE_KEY = 'embedded-write-key-0123456789';
const READ_KEY = 'embedded-read-key-0123456789';

describe('the embedded default (npm start)', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'sundial-embedded-'));
  const running: SundialProcess[] = [];
  after(() => {
    for (const p of running) killGroup(p);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('npm start starts server, worker and API; Ctrl-C stops everything with exit 0; a restart keeps schedules and past runs', async () => {
    const [temporalPort, uiPort, apiPort, sdkPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    const env = {
      SUNDIAL_API_KEYS: `write:${WRITE_KEY},read:${READ_KEY}`,
      SUNDIAL_SDK_METRICS_ADDRESS: `127.0.0.1:${sdkPort}`,
      SUNDIAL_DATA_DIR: dataDir,
      SUNDIAL_TEMPORAL_PORT: String(temporalPort),
      SUNDIAL_TEMPORAL_UI_PORT: String(uiPort),
      PORT: String(apiPort),
      TEMPORAL_CLI: testCliPath(),
      SUNDIAL_JOBS_MODULE: path.join(FIXTURES, 'probe-jobs.js'),
      TEMPORAL_TASK_QUEUE: 'embedded-test',
      // The metrics collector reads Temporal every second rather than every 15 s.
      SUNDIAL_METRICS_INTERVAL: '1s',
    };
    const address = `127.0.0.1:${temporalPort}`;

    // The first start is the command a user types: npm must pass Ctrl-C on and exit 0 too.
    const first = startSundial('embedded', env, { viaNpm: true });
    running.push(first);
    const up = await first.waitForLog((l) => l.msg === 'Sundial is up', 90_000);
    assert.equal(up.api, `http://127.0.0.1:${apiPort}`);
    assert.equal(up.web_ui, `http://127.0.0.1:${uiPort}/namespaces/default/schedules`);
    // The human banner goes to stderr, which may arrive after the log line on stdout.
    await waitFor('the banner naming the Web UI', 5_000, () =>
      new RegExp(`Temporal Web UI: http://127\\.0\\.0\\.1:${uiPort}/`).test(first.output()) ? true : undefined,
    );
    assert.equal((await fetch(`${up.api as string}/healthz`)).status, 200);
    assert.equal((await fetch(`${up.api as string}/readyz`)).status, 200);
    // Keys cross the API (good, bad, read-only) so that a leak into any log line would show.
    const auth = (key: string) => ({ headers: { authorization: `Bearer ${key}` } });
    assert.equal((await fetch(`${up.api as string}/api/v1/jobs`, auth(READ_KEY))).status, 200);
    assert.equal(
      (await fetch(`${up.api as string}/api/v1/jobs/restart-probe/trigger`, { method: 'POST', ...auth(WRITE_KEY) }))
        .status,
      202,
    );
    assert.equal((await fetch(`${up.api as string}/api/v1/jobs`, auth(`${WRITE_KEY}-wrong`))).status, 401);
    assert.equal((await fetch(`http://127.0.0.1:${uiPort}/`)).status, 200, 'the Web UI answers');
    const firstRuns = await waitFor('two completed runs', 60_000, async () => {
      const runs = await completedRuns(address, 'restart-probe');
      return runs.length >= 2 ? runs : undefined;
    });

    // Logs: every stdout line is JSON; each finished run has a start and an end line with the
    // run fields.
    assert.deepEqual(
      first.lines.filter((l) => 'unparsed' in l),
      [],
      'every log line parses as JSON',
    );
    // A run's end line is written just after Temporal records the run as completed: wait for it.
    const ends = await waitFor('two run end lines', 15_000, () => {
      const found = first.lines.filter((l) => l.msg === 'run finished' && l.task_name === 'restart-probe');
      return found.length >= 2 ? found : undefined;
    });
    // The field list, written out: every run line has all of them, null where they do not apply.
    const FIELDS = [
      'task_name',
      'workflow_id',
      'run_id',
      'attempt',
      'scheduled_time',
      'start_time',
      'duration_ms',
      'status',
      'error_type',
      'error_msg',
    ];
    const NULL_ON_START = ['duration_ms', 'error_type', 'error_msg'];
    for (const end of ends) {
      const start = first.lines.find((l) => l.msg === 'run started' && l.run_id === end.run_id);
      assert.ok(start, `a start line for run ${String(end.run_id)}`);
      for (const field of FIELDS) {
        assert.ok(
          field in end && field in start,
          `start and end lines have ${field}: ${JSON.stringify(start)} ${JSON.stringify(end)}`,
        );
        assert.equal(
          start[field] === null,
          NULL_ON_START.includes(field),
          `start line's ${field}: ${JSON.stringify(start)}`,
        );
        assert.equal(
          end[field] === null,
          field.startsWith('error_'),
          `a succeeded run's end line's ${field}: ${JSON.stringify(end)}`,
        );
      }
      assert.equal(start.start_time, end.start_time);
      assert.equal(start.status, 'running');
      assert.equal(end.status, 'succeeded');
      assert.equal(typeof end.duration_ms, 'number');
    }

    // Metrics: Sundial's on the API port (runs counted from Temporal), the SDK's on their own.
    assert.equal(up.sdk_metrics, `http://127.0.0.1:${sdkPort}/metrics`);
    // Counted in the background: within a few of the collector's cycles.
    let metrics = '';
    await waitFor("sundial_job_runs_total to count the probe's runs", 30_000, async () => {
      metrics = await (await fetch(`${up.api as string}/metrics`)).text();
      return (sampleValue(metrics, 'sundial_job_runs_total', { job: 'restart-probe', status: 'succeeded' }) ?? 0) >= 1
        ? true
        : undefined;
    }).catch((err: Error) => assert.fail(`${err.message}:\n${metrics.slice(0, 2000)}`));
    const sdk = await (await fetch(up.sdk_metrics as string)).text();
    assert.match(sdk, /^temporal_worker_task_slots_available\{/m, 'the SDK reports its task slots');
    assert.match(sdk, /^temporal_num_pollers\{/m, 'and its pollers');

    first.child.kill('SIGINT');
    const code = await first.exited;
    assert.equal(code, 0, `exit code; output:\n${first.output().slice(-2000)}`);
    for (const key of [WRITE_KEY, READ_KEY])
      assert.ok(!first.output().includes(key), 'no output line holds an API key');
    assert.equal(await portOpen(temporalPort), false, 'the dev server stopped');
    assert.equal(await portOpen(apiPort), false, 'the API stopped');

    const second = startSundial('embedded', env);
    running.push(second);
    const reconciled = await second.waitForLog((l) => l.msg === 'schedules reconciled', 90_000);
    assert.deepEqual(
      reconciled.counts,
      { created: 0, updated: 0, unchanged: 1, conflicts: 0, orphans: 0, deleted: 0, migrated: 0 },
      'the schedule survived the restart unchanged',
    );
    assert.equal(typeof reconciled.duration_ms, 'number');
    const runsAfter = await completedRuns(address, 'restart-probe');
    for (const id of firstRuns) assert.ok(runsAfter.includes(id), `past run ${id} is still there`);
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0);
    assert.equal(await portOpen(temporalPort), false);
  });

  it('after a kill -9 of npm start, the next start stops the dev server left behind and comes up', async () => {
    const [temporalPort, apiPort] = [await freePort(), await freePort()];
    const env = {
      SUNDIAL_DATA_DIR: dataDir,
      SUNDIAL_TEMPORAL_PORT: String(temporalPort),
      SUNDIAL_TEMPORAL_UI_PORT: String(await freePort()),
      PORT: String(apiPort),
      TEMPORAL_CLI: testCliPath(),
      SUNDIAL_JOBS_MODULE: path.join(FIXTURES, 'probe-jobs.js'),
      TEMPORAL_TASK_QUEUE: 'embedded-test',
    };
    const crashed = startSundial('embedded', env);
    running.push(crashed);
    await crashed.waitForLog((l) => l.msg === 'Sundial is up', 90_000);
    crashed.child.kill('SIGKILL');
    await crashed.exited;
    assert.equal(await portOpen(temporalPort), true, 'the orphaned dev server still runs');

    const next = startSundial('embedded', env);
    running.push(next);
    await next.waitForLog(
      (l) => l.msg === 'stopping a Temporal dev server left running on this data folder by an earlier run',
      30_000,
    );
    await next.waitForLog((l) => l.msg === 'Sundial is up', 90_000);
    next.child.kill('SIGTERM');
    assert.equal(await next.exited, 0);
    assert.equal(await portOpen(temporalPort), false);
  });
});
