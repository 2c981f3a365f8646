import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import { JobRegistry } from '../../src/jobs/registry';
import type { RunOutcome } from '../../src/jobs/run-types';
import { startDevServer, type DevServer } from '../../src/temporal/dev-server';
import { jobs as probeJobs } from '../fixtures/probe-jobs';
import { freePort } from '../support/ports';
import { FIXTURES, isAlive, startSundial, type SundialProcess } from '../support/processes';
import { testAddress, testCliPath, testClient, testLogger, unique } from '../support/temporal';

// The test stands in a second dev server for "another frontend of the same cluster": what is
// tested is the worker's move, not the cluster (test/ha/server-node-loss.test.ts does that).
describe('a worker given several frontends (TEMPORAL_ADDRESS=a,b)', () => {
  let own: DevServer | undefined;
  let client: Client | undefined;
  let worker: SundialProcess | undefined;
  after(async () => {
    if (worker !== undefined && isAlive(worker.pid)) worker.child.kill('SIGKILL');
    await own?.stop(1_000);
    await client?.connection.close();
  });

  it('starts on the first that answers, skipping a dead one', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const p = startSundial('worker', {
      TEMPORAL_ADDRESS: `${dead},${testAddress()}`,
      TEMPORAL_TASK_QUEUE: unique('failover-start'),
      TEMPORAL_CONNECT_TIMEOUT: '3s',
      SUNDIAL_JOBS_MODULE: path.join(FIXTURES, 'no-jobs.js'),
    });
    try {
      const running = await p.waitForLog((l) => l.msg === 'worker running', 60_000);
      assert.equal(running.temporal, testAddress());
    } finally {
      p.child.kill('SIGTERM');
      await p.exited;
    }
  });

  it('when its frontend dies, moves to the next one and keeps running work there', async () => {
    own = await startDevServer({
      cliPath: testCliPath(),
      dataDir: undefined,
      port: await freePort(),
      uiPort: undefined,
      namespace: 'default',
      logger: testLogger,
    });
    const taskQueue = unique('failover-move');
    worker = startSundial('worker', {
      TEMPORAL_ADDRESS: `${own.address},${testAddress()}`,
      TEMPORAL_TASK_QUEUE: taskQueue,
      // Its schedule lands on the first server only (reconciled at start-up); its code is what
      // the run below needs.
      SUNDIAL_JOBS_MODULE: path.join(FIXTURES, 'probe-jobs.js'),
    });
    const running = await worker.waitForLog((l) => l.msg === 'worker running', 60_000);
    assert.equal(running.temporal, own.address, 'connected through the first frontend');

    const killedAt = Date.now();
    await own.stop(0);
    const moved = await worker.waitForLog(
      (l) => l.msg === 'Temporal frontend stopped answering: worker switched to another frontend',
      30_000,
    );
    assert.deepEqual([moved.from, moved.to], [own.address, testAddress()]);
    process.stderr.write(`  frontend failover: server stopped -> worker moved in ${Date.now() - killedAt} ms\n`);

    // Work on the other frontend's task queue is now served by this worker.
    client = await testClient();
    const plan = JobRegistry.create(probeJobs).get('restart-probe')!.run;
    const handle = await client.workflow.start('jobWorkflow', {
      taskQueue,
      workflowId: unique('failover-move-run'),
      args: [plan],
    });
    const outcome = (await handle.result()) as RunOutcome;
    assert.equal(outcome.status, 'succeeded');
    assert.ok(isAlive(worker.pid), 'the worker kept running');
  });
});
