import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { freePort } from '../support/ports';
import { FIXTURES, isAlive, startSundial, type SundialProcess } from '../support/processes';
import { testCliPath, waitFor } from '../support/temporal';

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

async function completedRuns(address: string, jobId: string): Promise<string[]> {
  const connection = await Connection.connect({ address });
  try {
    const client = new Client({ connection });
    const ids: string[] = [];
    for await (const wf of client.workflow.list({ query: `SundialJobId = "${jobId}" AND ExecutionStatus = "Completed"` })) ids.push(wf.workflowId);
    return ids;
  } finally {
    await connection.close();
  }
}

describe('the embedded default (npm start)', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'sundial-embedded-'));
  const running: SundialProcess[] = [];
  after(() => {
    for (const p of running) if (isAlive(p.pid)) p.child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('npm start starts server, worker and API; Ctrl-C stops everything with exit 0; a restart keeps schedules and past runs', async () => {
    const [temporalPort, uiPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const env = {
      SUNDIAL_DATA_DIR: dataDir,
      SUNDIAL_TEMPORAL_PORT: String(temporalPort),
      SUNDIAL_TEMPORAL_UI_PORT: String(uiPort),
      PORT: String(apiPort),
      TEMPORAL_CLI: testCliPath(),
      SUNDIAL_JOBS_MODULE: path.join(FIXTURES, 'probe-jobs.js'),
      TEMPORAL_TASK_QUEUE: 'embedded-test',
    };
    const address = `127.0.0.1:${temporalPort}`;

    // The first start is the command a user types: npm must pass Ctrl-C on and exit 0 too.
    const first = startSundial('embedded', env, { viaNpm: true });
    running.push(first);
    const up = await first.waitForLog((l) => l.msg === 'Sundial is up', 90_000);
    assert.equal(up.api, `http://127.0.0.1:${apiPort}`);
    assert.equal(up.web_ui, `http://127.0.0.1:${uiPort}/namespaces/default/schedules`);
    // The human banner goes to stderr, which may arrive after the log line on stdout.
    await waitFor('the banner naming the Web UI', 5_000, () => (new RegExp(`Temporal Web UI: http://127\\.0\\.0\\.1:${uiPort}/`).test(first.output()) ? true : undefined));
    assert.equal((await fetch(`${up.api as string}/healthz`)).status, 200);
    assert.equal((await fetch(`${up.api as string}/readyz`)).status, 200);
    assert.equal((await fetch(`http://127.0.0.1:${uiPort}/`)).status, 200, 'the Web UI answers');
    const firstRuns = await waitFor('two completed runs', 60_000, async () => {
      const runs = await completedRuns(address, 'restart-probe');
      return runs.length >= 2 ? runs : undefined;
    });

    // Logs: every stdout line is JSON; each finished run has a start and an end line with the
    // run fields.
    assert.deepEqual(first.lines.filter((l) => 'unparsed' in l), [], 'every log line parses as JSON');
    // A run's end line is written just after Temporal records the run as completed: wait for it.
    const ends = await waitFor('two run end lines', 15_000, () => {
      const found = first.lines.filter((l) => l.msg === 'run finished' && l.task_name === 'restart-probe');
      return found.length >= 2 ? found : undefined;
    });
    for (const end of ends) {
      for (const field of ['workflow_id', 'run_id', 'attempt', 'scheduled_time', 'start_time', 'duration_ms', 'status']) {
        assert.ok(end[field] !== undefined, `end line has ${field}: ${JSON.stringify(end)}`);
      }
      assert.ok(first.lines.some((l) => l.msg === 'run started' && l.run_id === end.run_id && l.start_time === end.start_time), 'and a start line');
    }

    first.child.kill('SIGINT');
    const code = await first.exited;
    assert.equal(code, 0, `exit code; output:\n${first.output().slice(-2000)}`);
    assert.equal(await portOpen(temporalPort), false, 'the dev server stopped');
    assert.equal(await portOpen(apiPort), false, 'the API stopped');

    const second = startSundial('embedded', env);
    running.push(second);
    const reconciled = await second.waitForLog((l) => l.msg === 'schedules reconciled', 90_000);
    assert.deepEqual(reconciled.unchanged, ['restart-probe'], 'the schedule survived the restart unchanged');
    assert.deepEqual(reconciled.created, []);
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
    await next.waitForLog((l) => l.msg === 'stopping a Temporal dev server left running on this data folder by an earlier run', 30_000);
    await next.waitForLog((l) => l.msg === 'Sundial is up', 90_000);
    next.child.kill('SIGTERM');
    assert.equal(await next.exited, 0);
    assert.equal(await portOpen(temporalPort), false);
  });
});
