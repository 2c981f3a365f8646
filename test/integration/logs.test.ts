/**
 * Log lines for people and for machines: JSON lines on a pipe or with LOG_FORMAT=json, pretty
 * lines on a terminal; redaction and secret scrubbing in both; the worker's bundler statistics
 * at debug level only.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { createLogger, defaultLogFormat, type LogFormat } from '../../src/observability/logger';
import { scrubbingLogs } from '../../src/secrets/resolve';
import { projectRoot } from '../../src/util/paths';
import { FIXTURES, killGroup, startSundial, type SundialProcess } from '../support/processes';
import { testAddress, unique } from '../support/temporal';

/** A logger writing into an array of lines. */
function capture(format?: LogFormat): { logger: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(
        ...chunk
          .toString()
          .split('\n')
          .filter((l) => l !== ''),
      );
      done();
    },
  });
  return { logger: createLogger('info', sink, format), lines };
}

const SECRET = 'secret-value-logs-test-4242';

describe('the log format', () => {
  it('when stdout is not a terminal, then JSON lines; on a terminal, pretty lines; LOG_FORMAT wins either way', () => {
    assert.equal(defaultLogFormat({}, { isTTY: false }), 'json');
    assert.equal(defaultLogFormat({}, {}), 'json');
    assert.equal(defaultLogFormat({}, { isTTY: true }), 'pretty');
    assert.equal(defaultLogFormat({ LOG_FORMAT: 'json' }, { isTTY: true }), 'json');
    assert.equal(defaultLogFormat({ LOG_FORMAT: 'pretty' }, { isTTY: false }), 'pretty');
  });

  it('when a destination is given, then JSON lines unless pretty is asked for', () => {
    const { logger, lines } = capture();
    logger.info({ task_name: 'a-job', attempt: 2 }, 'attempt started');
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    assert.equal(line.msg, 'attempt started');
    assert.equal(line.level, 'info');
    assert.equal(line.task_name, 'a-job');
  });

  it('when pretty is forced, then one readable line per event, not JSON, without colours off a terminal', () => {
    const { logger, lines } = capture('pretty');
    logger.info({ task_name: 'a-job', attempt: 2 }, 'attempt started');
    assert.equal(lines.length, 1);
    assert.throws(() => JSON.parse(lines[0]!));
    assert.match(
      lines[0]!,
      /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: attempt started \{.*"task_name":"a-job".*"attempt":2.*\}$/,
    );
    assert.doesNotMatch(lines[0]!, /\x1b\[/, 'no ANSI colours into a stream');
  });

  for (const format of ['json', 'pretty'] as const) {
    it(`when the format is ${format}, then API keys are redacted and an attempt's secret values scrubbed`, async () => {
      const { logger, lines } = capture(format);
      logger.info(
        { apiKey: 'key-logs-test-1234', headers: { authorization: 'Bearer key-logs-test-1234' } },
        'a request',
      );
      await scrubbingLogs([SECRET], async () =>
        logger.warn({ args: { token: SECRET } }, `careless line with ${SECRET}`),
      );
      const text = lines.join('\n');
      assert.equal(lines.length, 2);
      assert.doesNotMatch(text, /key-logs-test-1234/);
      assert.doesNotMatch(text, new RegExp(SECRET));
      assert.match(text, /\[redacted\]/);
      assert.match(text, /careless line with \[redacted\]/);
    });
  }
});

describe('a worker process starting', () => {
  const processes: SundialProcess[] = [];
  after(() => processes.forEach(killGroup));

  async function startWorker(level: string): Promise<SundialProcess> {
    const worker = startSundial('worker', {
      TEMPORAL_ADDRESS: testAddress(),
      TEMPORAL_TASK_QUEUE: unique('logs'),
      SUNDIAL_JOBS_MODULE: path.join(FIXTURES, 'no-jobs.js'),
      LOG_LEVEL: level,
    });
    processes.push(worker);
    await worker.waitForLog((l) => l.msg === 'worker running', 90_000);
    return worker;
  }

  it('when LOG_LEVEL is info, then no bundler statistics; at debug they are there; every line is JSON on a pipe', async () => {
    const [info, debug] = [await startWorker('info'), await startWorker('debug')];
    const webpack = (p: SundialProcess) =>
      p.lines.filter((l) => typeof l.msg === 'string' && /webpack \S+ compiled/.test(l.msg));
    assert.deepEqual(webpack(info), [], 'no webpack statistics at info');
    assert.ok(
      info.lines.some((l) => l.msg === 'Workflow bundle created'),
      'the one-line summary stays',
    );
    const [stats] = webpack(debug);
    assert.equal(stats?.level, 'debug');
    for (const p of [info, debug])
      assert.deepEqual(
        p.lines.filter((l) => 'unparsed' in l),
        [],
        'every stdout line is JSON',
      );
  });

  it('when stdout is a terminal, then pretty lines; with LOG_FORMAT=json, JSON lines', async () => {
    // `script` gives the process a pseudo-terminal, as a person's shell would.
    const inTerminal = (env: Record<string, string>) =>
      new Promise<string>((resolve, reject) => {
        const child = spawn('script', ['-qefc', `${process.execPath} dist/src/main/worker.js`, '/dev/null'], {
          cwd: projectRoot(),
          // A bad variable stops the worker at once, after its first (fatal) line.
          env: { ...process.env, TEMPORAL_ADDRESS: 'not an address', NO_COLOR: '1', ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let out = '';
        child.stdout.on('data', (c: Buffer) => (out += c.toString()));
        child.stderr.on('data', (c: Buffer) => (out += c.toString()));
        const timer = setTimeout(
          () => (child.kill('SIGKILL'), reject(new Error(`no exit within 30 s: ${out}`))),
          30_000,
        );
        child.once('exit', () => (clearTimeout(timer), resolve(out)));
      });
    const pretty = await inTerminal({});
    assert.match(pretty, /^\[\d\d:\d\d:\d\d\.\d{3}\] FATAL: invalid configuration: TEMPORAL_ADDRESS/m, pretty);
    const json = await inTerminal({ LOG_FORMAT: 'json' });
    assert.match(json, /^\{"level":"fatal".*"msg":"invalid configuration: TEMPORAL_ADDRESS/m, json);
  });
});
