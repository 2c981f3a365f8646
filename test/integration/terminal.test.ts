/**
 * `npm start` in a real terminal, stopped the way a person stops it: Ctrl-C typed into a
 * pseudo-terminal (tmux). The terminal signals the whole foreground process group (npm and
 * node) and npm forwards the signal to node again, so one keypress arrives twice.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { projectRoot } from '../../src/util/paths';
import { freePort, portOpen } from '../support/ports';
import { FIXTURES, isAlive } from '../support/processes';
import { testCliPath, waitFor } from '../support/temporal';
import { Terminal } from '../support/terminal';

describe('npm start in a real terminal', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'sundial-terminal-'));
  const terminals: Terminal[] = [];
  const pids: number[] = [];
  after(() => {
    for (const t of terminals) t.kill();
    for (const pid of pids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  async function startInTerminal(name: string): Promise<{
    term: Terminal;
    api: string;
    temporalPort: number;
    uiPort: number;
    apiPort: number;
    serverPid: number;
  }> {
    const [temporalPort, uiPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const dataDir = path.join(dir, name);
    const env: Record<string, string> = {
      SUNDIAL_DATA_DIR: dataDir,
      SUNDIAL_TEMPORAL_PORT: String(temporalPort),
      SUNDIAL_TEMPORAL_UI_PORT: String(uiPort),
      PORT: String(apiPort),
      TEMPORAL_CLI: testCliPath(),
      SUNDIAL_JOBS_MODULE: path.join(FIXTURES, 'terminal-jobs.js'),
      TEMPORAL_TASK_QUEUE: `terminal-${randomUUID()}`,
      SUNDIAL_SDK_METRICS_ADDRESS: 'off',
      SUNDIAL_API_KEYS: '',
      LOG_LEVEL: 'info',
      // A terminal gets pretty lines by default; this test reads the JSON ones (test/integration/logs.test.ts checks the pretty ones).
      LOG_FORMAT: 'json',
    };
    // What a person would type: go to the project, set a few variables, `npm start`; then the
    // shell prints npm's exit status.
    const script = path.join(dir, `${name}.sh`);
    writeFileSync(
      script,
      [
        `cd '${projectRoot()}'`,
        ...Object.entries(env).map(([k, v]) => `export ${k}='${v}'`),
        'npm start',
        'echo "SUNDIAL_EXIT=$?"',
        '',
      ].join('\n'),
    );
    const term = new Terminal(path.join(dir, `${name}.transcript`));
    terminals.push(term);
    term.type(`source '${script}'`);
    await term.waitFor('Sundial is up', /"msg":"Sundial is up"/, 120_000);
    const serverPid = Number(readFileSync(path.join(dataDir, 'temporal-server.pid'), 'utf8').trim());
    pids.push(serverPid);
    assert.ok(isAlive(serverPid), 'the dev server runs');
    return { term, api: `http://127.0.0.1:${apiPort}`, temporalPort, uiPort, apiPort, serverPid };
  }

  /** Triggers the four-second job and waits until its run has started: it is in flight at the Ctrl-C. */
  async function startDrainProbe(s: { api: string; term: Terminal }): Promise<void> {
    const trigger = await fetch(`${s.api}/api/v1/jobs/drain-probe/trigger`, { method: 'POST' });
    assert.equal(trigger.status, 202, await trigger.text());
    await s.term.waitFor(
      'the triggered run to start',
      /"msg":"run started"[^\n]*"task_name":"drain-probe"|"task_name":"drain-probe"[^\n]*"msg":"run started"/,
      30_000,
    );
  }

  async function assertAllGone(s: {
    temporalPort: number;
    uiPort: number;
    apiPort: number;
    serverPid: number;
  }): Promise<void> {
    await waitFor('the dev server to be gone', 15_000, () => (isAlive(s.serverPid) ? undefined : true));
    for (const port of [s.temporalPort, s.uiPort, s.apiPort])
      assert.equal(await portOpen(port), false, `port ${port} is free`);
  }

  it('one Ctrl-C drains the running job, stops the dev server and exits 0', async () => {
    const s = await startInTerminal('once');
    await startDrainProbe(s);

    s.term.ctrlC();
    await s.term.waitFor('npm to exit', /SUNDIAL_EXIT=(\d+)/, 60_000);
    const out = s.term.output();
    const tail = `; terminal:\n${out.slice(-3000)}`;
    assert.ok(/SUNDIAL_EXIT=0\b/.test(out), `exit status 0${tail}`);
    assert.ok(!/second signal/.test(out), `the terminal's signal and npm's forward are one request to stop${tail}`);
    // The attempt in flight finished on this worker before it stopped (the run's last workflow
    // task is left to the next worker: a draining worker takes no new tasks).
    assert.ok(
      /"task_name":"drain-probe"[^\n]*"status":"success","msg":"attempt finished"/.test(out),
      `the running job was drained${tail}`,
    );
    assert.ok(/"msg":"stopped"/.test(out), `the process said it stopped${tail}`);
    await assertAllGone(s);
  });

  it('a second Ctrl-C, pressed while the worker drains, still stops the dev server', async () => {
    const s = await startInTerminal('twice');
    await startDrainProbe(s);

    s.term.ctrlC();
    await s.term.waitFor('the stop to begin', /"msg":"shutting down"/, 10_000);
    // A separate keypress, well after npm's forward of the first.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    s.term.ctrlC();
    const exit = await s.term.waitFor('npm to exit', /SUNDIAL_EXIT=(\d+)/, 60_000);
    assert.ok(
      /second signal: stopping now/.test(s.term.output()),
      `the second Ctrl-C forced the stop; terminal:\n${s.term.output().slice(-3000)}`,
    );
    assert.equal(exit[1], '130', 'a forced stop is not a clean one: 128 + SIGINT');
    await assertAllGone(s);
  });
});
