/**
 * Issue 6, part 2: API loss. Two `npm run api` replicas and a worker; the test's own client
 * sends a burst of creates and triggers, retrying on the other replica when a connection is
 * refused or reset, while one replica is killed with SIGKILL.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import { FailoverClient, type ClientCall } from '../support/failover-client';
import { WorkerFleet } from '../support/fleet';
import { CallOutcome, Ledger, startLedgerDependency, type LedgerDependency } from '../support/ledger';
import { freePort } from '../support/ports';
import { FIXTURES, isAlive, startSundial, type SundialProcess } from '../support/processes';
import { testAddress, testClient, unique } from '../support/temporal';
import { listRuns, waitForRunsToDrain } from '../support/visibility';

const JOBS = 40;
/** Requests in flight at once. */
const CONCURRENCY = 8;
/** The replica is killed once this many jobs have been created and triggered. */
const KILL_AFTER = 12;

describe('API loss: kill -9 one of two API replicas during a burst of creates and triggers', () => {
  let client: Client;
  let ledger: Ledger | undefined;
  let dep: LedgerDependency | undefined;
  let fleet: WorkerFleet | undefined;
  const apis: SundialProcess[] = [];
  const prefix = unique('ha-api-loss');
  const jobIds = Array.from({ length: JOBS }, (_, i) => `${prefix}-${i}`);

  before(async () => {
    client = await testClient();
    ledger = await Ledger.create();
    dep = await startLedgerDependency(ledger, { delayMs: 100 });
  });
  after(async () => {
    for (const p of apis) if (isAlive(p.pid)) p.child.kill('SIGKILL');
    await fleet?.killAll();
    for (const id of jobIds)
      await client?.schedule
        .getHandle(id)
        .delete()
        .catch(() => undefined);
    await dep?.close();
    await ledger?.drop();
    await client?.connection.close();
  });

  it('no write is lost, no job is duplicated, every trigger has exactly one run', { timeout: 300_000 }, async () => {
    const taskQueue = unique('ha-api-loss');
    const env = {
      TEMPORAL_ADDRESS: testAddress(),
      TEMPORAL_TASK_QUEUE: taskQueue,
      SUNDIAL_JOBS_MODULE: path.join(FIXTURES, 'no-jobs.js'),
    };
    fleet = new WorkerFleet(env);
    const ports = [await freePort(), await freePort()];
    for (const port of ports) apis.push(startSundial('api', { ...env, PORT: String(port) }));
    await Promise.all([fleet.start(1), ...apis.map((a) => a.waitForLog((l) => l.msg === 'API listening', 60_000))]);
    const api = new FailoverClient(ports.map((p) => `http://127.0.0.1:${p}`));

    const spec = (id: string) => ({
      id,
      // Never due during the test: every run is a trigger's.
      schedule: { cron: '0 0 1 1 *' },
      task: { type: 'http', url: `${dep!.url}/${id}`, timeout: '10s' },
      retry: { initialInterval: '500ms', maximumAttempts: 5 },
    });
    const created = new Map<string, ClientCall>();
    const triggered = new Map<string, ClientCall & { key: string }>();
    let killedAt: number | undefined;
    const queue = [...jobIds];
    const lane = async () => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) {
        created.set(id, await api.request('POST', '/api/v1/jobs', spec(id)));
        // The key makes the trigger safe to send again: a retry after a reset must not start a second run.
        const key = randomUUID();
        triggered.set(id, {
          ...(await api.request('POST', `/api/v1/jobs/${id}/trigger`, {}, { 'idempotency-key': key })),
          key,
        });
        if (killedAt === undefined && triggered.size >= KILL_AFTER) {
          killedAt = Date.now();
          apis[0]!.child.kill('SIGKILL');
        }
      }
    };
    const burstStarted = Date.now();
    await Promise.all(Array.from({ length: CONCURRENCY }, lane));
    const burstMs = Date.now() - burstStarted;
    assert.ok(killedAt !== undefined, 'a replica was killed during the burst');
    await apis[0]!.exited;
    await waitForRunsToDrain(client, jobIds, 120_000);

    // What the surviving replica lists, page by page.
    const listed: string[] = [];
    let token: string | null = null;
    do {
      const url = `/api/v1/jobs?pageSize=20${token === null ? '' : `&pageToken=${encodeURIComponent(token)}`}`;
      const page = await api.request('GET', url);
      assert.equal(page.status, 200, JSON.stringify(page.body));
      const body = page.body as { items: Array<{ id: string }>; nextPageToken: string | null };
      listed.push(...body.items.map((j) => j.id).filter((id) => id.startsWith(`${prefix}-`)));
      token = body.nextPageToken;
    } while (token !== null);

    const retried = [...created.values(), ...triggered.values()].filter((c) => c.failures.length > 0);
    const runsByJob = new Map<string, Awaited<ReturnType<typeof listRuns>>>();
    for (const id of jobIds) runsByJob.set(id, await listRuns(client, id));
    const rows = await ledger!.rows();
    const inFlight = (c: ClientCall) => c.failures.some((f) => !f.endsWith('ECONNREFUSED'));
    const retriedFor503 = retried.filter((c) => c.failures.some((f) => f.endsWith(':503'))).length;
    const retriedCreates = retried.filter((c) => c.path === '/api/v1/jobs');
    const retriedTriggers = retried.filter((c) => c.path.endsWith('/trigger'));
    const replayed = retriedTriggers.filter((c) => c.headers?.get('idempotent-replayed') === 'true');
    process.stderr.write(
      `  API loss: ${JOBS} creates + ${JOBS} triggers in ${(burstMs / 1000).toFixed(1)} s over 2 replicas, replica 0 killed after ${KILL_AFTER} jobs; ` +
        `${retried.length} requests were sent again to the other replica (${retriedFor503} of them after a 503 from a slow Temporal)\n` +
        `  creates retried: ${retriedCreates.length} (${retriedCreates.filter(inFlight).length} cut off in flight), ${retriedCreates.filter((c) => c.status === 409).length} of them found their own first attempt's job (409)\n` +
        `  triggers retried: ${retriedTriggers.length} (${retriedTriggers.filter(inFlight).length} cut off in flight), ${replayed.length} of them answered by the run the first attempt had started ` +
        `(Idempotent-Replayed: without the key, ${replayed.length} duplicate runs)\n`,
    );

    assert.ok(
      retried.some((c) => c.failures.some((f) => f.startsWith('0:E') || f.startsWith('0:UND'))),
      'the kill made the client retry some requests',
    );
    for (const id of jobIds) {
      const c = created.get(id)!;
      // A create retried after a reset or a 503 may find its own first attempt's job: 409, same spec.
      const ok = c.status === 201 || (c.status === 409 && c.failures.length > 0);
      assert.ok(
        ok,
        `create ${id}: ${c.status} ${JSON.stringify(c.body)} after ${c.failures.join(', ') || 'no failures'}`,
      );
      const t = triggered.get(id)!;
      assert.equal(t.status, 202, `trigger ${id}: ${t.status} ${JSON.stringify(t.body)}`);
    }
    assert.deepEqual([...listed].sort(), [...jobIds].sort(), 'every job created exactly once');
    for (const id of jobIds.filter((i) => created.get(i)!.status === 409)) {
      const got = await api.request('GET', `/api/v1/jobs/${id}`);
      assert.equal(
        (got.body as { task: { url: string } }).task.url,
        `${dep!.url}/${id}`,
        `${id} is the job the client sent`,
      );
    }
    for (const id of jobIds) {
      const runs = runsByJob.get(id)!;
      const t = triggered.get(id)!;
      assert.deepEqual(
        runs.map((r) => r.workflowId),
        [(t.body as { workflowId: string }).workflowId],
        `one trigger of ${id} (${t.failures.length > 0 ? 'retried' : 'not retried'}), one run: the one the client was told about`,
      );
      assert.equal(runs[0]!.sundialStatus, 'succeeded');
      const effects = new Set(
        rows.filter((r) => r.jobId === id && r.outcome === CallOutcome.Succeeded).map((r) => r.idempotencyKey),
      );
      assert.deepEqual([...effects], [runs[0]!.workflowId], `${id}'s side effect happened under its run's key only`);
    }
    const survivor = apis[1]!;
    survivor.child.kill('SIGTERM');
    assert.equal(await survivor.exited, 0);
    assert.deepEqual(
      (await fleet.stopAll()).filter((c) => c !== 0),
      [],
    );
  });
});
