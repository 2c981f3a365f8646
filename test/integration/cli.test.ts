/**
 * The `sundial` CLI's operator commands, run as a person runs them (a child process,
 * `node dist/src/cli/main.js ...`) against a real API over real HTTP, on a real dev server.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Client } from '@temporalio/client';
import type { RunningApi } from '../../src/api/server';
import { ExitCode } from '../../src/cli/output';
import { defineJob } from '../../src/jobs/define';
import { JobRegistry } from '../../src/jobs/registry';
import { projectRoot } from '../../src/util/paths';
import { call, startTestApi } from '../support/api';
import { freePort } from '../support/ports';
import { startTestWorker, testClient, unique, waitFor, type TestWorker } from '../support/temporal';

const CLI = path.join(projectRoot(), 'dist', 'src', 'cli', 'main.js');
const READ = 'cli-read-key-0123456789abcdef';
const WRITE = 'cli-write-key-0123456789abcdef';

interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI with the environment given on top of a clean one (no SUNDIAL_* from the runner). */
function sundial(args: string[], env: Record<string, string>): Promise<CliResult> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SUNDIAL_')));
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...base, ...env }, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** A person reads the message, not a stack: no "    at f (file:line)" lines. */
function assertNoStack(r: CliResult): void {
  assert.ok(!/^\s+at .+:\d+:\d+\)?$/m.test(r.stderr + r.stdout), `no stack trace:\n${r.stderr}`);
}

const registry = JobRegistry.create([
  defineJob({
    id: 'cli-counter',
    description: 'returns its args',
    schedule: { intervals: [{ every: '1h' }] },
    run: (ctx) => ({ args: ctx.args }),
  }),
  defineJob({
    id: 'cli-slow',
    description: 'runs until cancelled',
    schedule: { intervals: [{ every: '1h' }] },
    run: (ctx) =>
      new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error))),
  }),
]);

describe('the sundial CLI over a real API', () => {
  let client: Client;
  let worker: TestWorker;
  let api: RunningApi;
  const taskQueue = unique('cli');
  const dir = mkdtempSync(path.join(tmpdir(), 'sundial-cli-'));
  const created: string[] = [];
  let env: Record<string, string>;

  before(async () => {
    client = await testClient();
    worker = await startTestWorker(registry, taskQueue);
    api = await startTestApi(client, {
      registry,
      taskQueue,
      apiKeys: [
        { role: 'read', key: READ },
        { role: 'write', key: WRITE },
      ],
    });
    env = { SUNDIAL_API_URL: api.url, SUNDIAL_API_KEY: WRITE };
  });
  after(async () => {
    for (const id of created)
      await call(api, 'DELETE', `/api/v1/jobs/${id}`, undefined, { authorization: `Bearer ${WRITE}` }).catch(
        () => undefined,
      );
    await api?.stop();
    await worker?.stop();
    await client?.connection.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Writes a JobSpec file and creates the job with `sundial jobs create -f`. */
  async function createJob(type: 'cli-counter' | 'cli-slow', extra: Record<string, unknown> = {}): Promise<string> {
    const id = unique(type);
    const file = path.join(dir, `${id}.json`);
    writeFileSync(
      file,
      JSON.stringify({
        id,
        description: 'made by the CLI test',
        schedule: { intervals: [{ every: '1h' }] },
        task: { type, args: { from: 'cli' } },
        ...extra,
      }),
    );
    created.push(id);
    const r = await sundial(['jobs', 'create', '-f', file], env);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`Created job ${id}\\.`));
    return id;
  }

  it('when a job file is created, then `jobs get` shows it as a table and as the JSON the API sent', async () => {
    const id = await createJob('cli-counter');
    const table = await sundial(['jobs', 'get', id], env);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, new RegExp(`id\\s+│\\s+${id}`));
    assert.match(table.stdout, /task\s+│\s+cli-counter/);
    assert.match(table.stdout, /state\s+│\s+active/);
    assert.match(
      table.stdout,
      new RegExp(`ticks\\s+│\\s+sundial jobs ticks ${id}`),
      'the table says where to ask why a tick did not run',
    );
    const json = await sundial(['jobs', 'get', id, '--output', 'json'], env);
    assert.equal(json.code, 0, json.stderr);
    const job = JSON.parse(json.stdout) as { id: string; origin: string; task: { type: string; args: unknown } };
    assert.equal(job.id, id);
    assert.equal(job.origin, 'api');
    assert.deepEqual(job.task, { type: 'cli-counter', args: { from: 'cli' } });
  });

  it('when jobs are listed, then the created job is in the table and in the JSON page', async () => {
    const id = await createJob('cli-counter');
    // The list is eventually consistent (visibility): wait for the job to appear.
    const listed = await waitFor('the job in the list', 20_000, async () => {
      const r = await sundial(['jobs', 'list', '--prefix', id, '-o', 'json'], env);
      assert.equal(r.code, 0, r.stderr);
      const page = JSON.parse(r.stdout) as { items: Array<{ id: string }> };
      return page.items.some((j) => j.id === id) ? page : undefined;
    });
    assert.equal(listed.items.length, 1);
    const table = await sundial(['jobs', 'list', '--prefix', id, '--origin', 'api'], env);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /ID\s+│\s+ORIGIN\s+│\s+STATE/);
    assert.match(table.stdout, new RegExp(`${id}\\s+│\\s+api\\s+│\\s+active\\s+│\\s+every 1h\\s+│\\s+cli-counter`));
  });

  it('when a job is paused and unpaused, then its state follows, with the note', async () => {
    const id = await createJob('cli-counter');
    const paused = await sundial(['jobs', 'pause', id, '--note', 'maintenance window'], env);
    assert.equal(paused.code, 0, paused.stderr);
    assert.equal(paused.stdout.trim(), `Paused job ${id}.`);
    const got = JSON.parse((await sundial(['jobs', 'get', id, '-o', 'json'], env)).stdout) as {
      state: { paused: boolean; note: string | null };
    };
    assert.deepEqual(got.state, { paused: true, note: 'maintenance window' });
    const unpaused = await sundial(['jobs', 'unpause', id, '-o', 'json'], env);
    assert.equal(unpaused.code, 0, unpaused.stderr);
    assert.equal((JSON.parse(unpaused.stdout) as { state: { paused: boolean } }).state.paused, false);
  });

  it('when a job is triggered (jobs trigger and the trigger shorthand), then its runs are listed and each can be shown', async () => {
    const id = await createJob('cli-counter');
    const first = await sundial(['jobs', 'trigger', id, '-o', 'json'], env);
    assert.equal(first.code, 0, first.stderr);
    const workflowId = (JSON.parse(first.stdout) as { workflowId: string }).workflowId;
    assert.ok(workflowId.startsWith(`${id}-`), workflowId);
    const second = await sundial(['trigger', id, '--idempotency-key', unique('key')], env);
    assert.equal(second.code, 0, second.stderr);
    // A keyed trigger's run id carries the key: <jobId>:trigger:<key>.
    assert.match(second.stdout, new RegExp(`^Triggered ${id}: run ${id}:trigger:`));

    const run = await waitFor('the run to succeed', 30_000, async () => {
      const r = await sundial(['runs', 'get', workflowId, '-o', 'json'], env);
      assert.equal(r.code, 0, r.stderr);
      const body = JSON.parse(r.stdout) as { status: string; result?: unknown };
      return body.status === 'succeeded' ? body : undefined;
    });
    assert.deepEqual(run.result, { args: { from: 'cli' } });
    const shown = await sundial(['runs', 'get', workflowId], env);
    assert.match(shown.stdout, /status\s+│\s+succeeded/);
    assert.match(shown.stdout, /result\s+│\s+\{"args":\{"from":"cli"\}\}/);

    const runs = await waitFor('both runs in the list', 20_000, async () => {
      const r = await sundial(['runs', 'list', id], env);
      assert.equal(r.code, 0, r.stderr);
      return (r.stdout.match(new RegExp(`${id}[-:]`, 'g')) ?? []).length === 2 ? r.stdout : undefined;
    });
    assert.match(runs, /WORKFLOW ID\s+│\s+STATUS/);
    assert.match(runs, new RegExp(`${workflowId}\\s+│\\s+succeeded`));
  });

  it('when a job is triggered with --args and --reason, then the run has them, and `jobs history` and `jobs ticks` answer', async () => {
    const id = await createJob('cli-counter');
    const r = await sundial(
      ['trigger', id, '--args', '{"count":3}', '--reason', 'checking the fix', '-o', 'json'],
      env,
    );
    assert.equal(r.code, 0, r.stderr);
    const workflowId = (JSON.parse(r.stdout) as { workflowId: string }).workflowId;
    const run = await waitFor('the overridden run to finish', 60_000, async () => {
      const got = JSON.parse((await sundial(['runs', 'get', workflowId, '-o', 'json'], env)).stdout) as {
        status: string;
        result: unknown;
        trigger?: { reason?: string; by?: { keyId: string | null } };
      };
      return got.status === 'succeeded' ? got : undefined;
    });
    assert.deepEqual(
      run.result,
      { args: { from: 'cli', count: 3 } },
      "the args were merged into the job's for this run",
    );
    assert.equal(run.trigger?.reason, 'checking the fix');
    assert.ok(run.trigger?.by?.keyId, 'the run records the key id');
    assert.ok(!r.stdout.includes(WRITE) && !JSON.stringify(run).includes(WRITE), 'never the key');
    const history = await sundial(['jobs', 'history', id], env);
    assert.equal(history.code, 0, history.stderr);
    assert.match(history.stdout, /trigger\s.*applied/);
    assert.match(history.stdout, /create\s.*applied/);
    const ticks = await sundial(
      [
        'jobs',
        'ticks',
        id,
        '--from',
        new Date(Date.now() - 3_600_000).toISOString(),
        '--to',
        new Date(Date.now() + 2 * 3_600_000).toISOString(),
        '-o',
        'json',
      ],
      env,
    );
    assert.equal(ticks.code, 0, ticks.stderr);
    const states = (JSON.parse(ticks.stdout) as { items: Array<{ state: string }> }).items.map((t) => t.state);
    assert.ok(states.includes('not_yet'), `an hourly job has a tick due in the next two hours: ${states.join(',')}`);
    const bad = await sundial(['trigger', id, '--args', '{not json'], env);
    assert.equal(bad.code, ExitCode.usage);
    assertNoStack(bad);
  });

  it('when a running run is cancelled, then it ends cancelled', async () => {
    const id = await createJob('cli-slow');
    const workflowId = (
      JSON.parse((await sundial(['trigger', id, '-o', 'json'], env)).stdout) as { workflowId: string }
    ).workflowId;
    const cancel = await sundial(['runs', 'cancel', workflowId, '--reason', 'test'], env);
    assert.equal(cancel.code, 0, cancel.stderr);
    assert.equal(cancel.stdout.trim(), `Cancellation of ${workflowId} requested.`);
    await waitFor('the run to be cancelled', 30_000, async () => {
      const body = JSON.parse((await sundial(['runs', 'get', workflowId, '-o', 'json'], env)).stdout) as {
        status: string;
      };
      return body.status === 'cancelled' ? true : undefined;
    });
  });

  it('when a job is backfilled, then the request is accepted; when deleted, then it is gone (exit 4)', async () => {
    const id = await createJob('cli-counter', { paused: true });
    const end = new Date();
    const start = new Date(end.getTime() - 2 * 3_600_000);
    const backfill = await sundial(
      ['jobs', 'backfill', id, '--start', start.toISOString(), '--end', end.toISOString(), '-o', 'json'],
      env,
    );
    assert.equal(backfill.code, 0, backfill.stderr);
    assert.deepEqual(JSON.parse(backfill.stdout), { jobId: id, start: start.toISOString(), end: end.toISOString() });

    const deleted = await sundial(['jobs', 'delete', id], env);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.stdout.trim(), `Deleted job ${id}.`);
    const gone = await sundial(['jobs', 'get', id], env);
    assert.equal(gone.code, ExitCode.notFound);
    assert.match(gone.stderr, /^Error: Job not found \(HTTP 404\): /);
    assertNoStack(gone);
  });

  it('when a job file is invalid, then every field error is printed, with exit 3 and no stack', async () => {
    const file = path.join(dir, 'bad.json');
    writeFileSync(
      file,
      JSON.stringify({
        id: unique('bad'),
        schedule: { cron: 'not a cron' },
        task: { type: 'cli-counter' },
        retry: { maximumAttempts: -1 },
      }),
    );
    const r = await sundial(['jobs', 'create', '-f', file], env);
    assert.equal(r.code, ExitCode.rejected, r.stderr);
    assert.match(r.stderr, /^Error: Invalid request \(HTTP 400\)/);
    assert.match(r.stderr, /^ {2}- schedule\.cron\b.*$/m);
    assert.match(r.stderr, /^ {2}- retry\.maximumAttempts: must not be negative/m);
    assert.equal(r.stdout, '');
    assertNoStack(r);
  });

  it('when a job file is missing or not JSON, then the CLI says so before calling the API (exit 2)', async () => {
    const missing = await sundial(['jobs', 'create', '-f', path.join(dir, 'nope.json')], env);
    assert.equal(missing.code, ExitCode.usage);
    assert.match(missing.stderr, /^Error: cannot read .*nope\.json: ENOENT/);
    const file = path.join(dir, 'broken.json');
    writeFileSync(file, '{ "id": ');
    const broken = await sundial(['jobs', 'create', '-f', file], env);
    assert.equal(broken.code, ExitCode.usage);
    assert.match(broken.stderr, /broken\.json is not JSON/);
    assertNoStack(broken);
  });

  it('when the command line is wrong, then usage is printed with exit 2', async () => {
    const noStart = await sundial(['jobs', 'backfill', 'some-job', '--end', new Date().toISOString()], env);
    assert.equal(noStart.code, ExitCode.usage);
    assert.match(noStart.stderr, /required option '--start <time>' not specified/);
    const format = await sundial(['jobs', 'list', '-o', 'yaml'], env);
    assert.equal(format.code, ExitCode.usage);
    assert.match(format.stderr, /Allowed choices are table, json/);
  });

  it('when the key is missing or may only read, then a write is refused with exit 5', async () => {
    const id = await createJob('cli-counter');
    const noKey = await sundial(['jobs', 'get', id], { SUNDIAL_API_URL: api.url });
    assert.equal(noKey.code, ExitCode.unauthorized);
    assert.match(noKey.stderr, /HTTP 401/);
    const readOnly = await sundial(['--api-key', READ, 'jobs', 'pause', id], { SUNDIAL_API_URL: api.url });
    assert.equal(readOnly.code, ExitCode.unauthorized);
    assert.match(readOnly.stderr, /HTTP 403/);
    // The key itself is never printed.
    assert.ok(!readOnly.stderr.includes(READ));
  });

  it('when the API is down, then the CLI says it cannot reach it, with exit 6 and no stack', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const r = await sundial(['jobs', 'list', '--api-url', url], {});
    assert.equal(r.code, ExitCode.unavailable);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`^Error: cannot reach the Sundial API at ${url.replace(/\./g, '\\.')}: connection refused`),
    );
    assertNoStack(r);
  });

  it('when a command is left with nothing to wait on before it has an answer, then it exits 1 saying so, not 0 with nothing printed', async () => {
    // Node ends a process whose event loop is empty even while a promise waits. A fetch that
    // never settles and holds nothing open is the simplest way to get there.
    const dir = mkdtempSync(path.join(tmpdir(), 'sundial-cli-'));
    const stub = path.join(dir, 'never-answers.js');
    writeFileSync(stub, 'globalThis.fetch = () => new Promise(() => {});\n');
    try {
      const r = await new Promise<CliResult>((resolve) => {
        execFile(
          process.execPath,
          ['--require', stub, CLI, 'jobs', 'list', '-o', 'json'],
          { timeout: 60_000 },
          (err, stdout, stderr) => {
            resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
          },
        );
      });
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, /the command ended before it had an answer/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
