import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { openApiDocument } from '../../src/api/openapi';
import { compileScheduleCrons, cronValues, parseCron } from '../../src/jobs/cron';
import { defineJob } from '../../src/jobs/define';
import { JobRegistry } from '../../src/jobs/registry';
import { parseJobSpec, type JobSpec } from '../../src/jobs/spec';
import { dstWarnings } from '../../src/schedules/dst';
import { toSchedule } from '../../src/schedules/mapping';
import { transitionHours } from '../../src/util/time-zone';

/** Values computed by this implementation when it was written (see "is pinned across releases"). */
const PINNED: Record<string, string> = {
  'nightly-report': '48 0 * * *',
  'billing.sync': '6-29/10 * * * *',
};

// The oracle: the documented formula written out again, with nothing shared with src/jobs/cron.ts.
// seed = first 6 bytes of sha256("<job id>\n<field name>"), big-endian.
function oracleSeed(jobId: string, field: string): number {
  const d = createHash('sha256').update(`${jobId}\n${field}`).digest();
  let n = 0;
  for (let i = 0; i < 6; i++) n = n * 256 + d[i]!;
  return n;
}

/** Every value of a..b matched by "every n from a + seed mod n" (n = 1: the one value a + seed mod (b-a+1)). */
function oracleValues(seed: number, a: number, b: number, n?: number): Set<number> {
  const out = new Set<number>();
  if (n === undefined) {
    out.add(a + (seed % (b - a + 1)));
    return out;
  }
  const first = a + (seed % n);
  for (let v = a; v <= b; v++) if (v >= first && (v - first) % n === 0) out.add(v);
  return out;
}

const ids = (n: number) => Array.from({ length: n }, () => `job-${randomUUID()}`);
const expand = (
  jobId: string,
  schedule: { cron?: string | string[]; timezone?: string; calendars?: Array<Record<string, string>> },
) => compileScheduleCrons(jobId, schedule).crons.map((c) => c.temporal);
const values = (cron: string) => {
  const v = cronValues(cron);
  assert.ok(v !== undefined);
  return v;
};
const sorted = (s: Set<number>) => [...s].sort((x, y) => x - y);
const chiSquare = (counts: number[], expected: number) =>
  counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0);

describe('H in cron fields, against the documented formula', () => {
  it('H picks seed mod range in every field (day-of-month 1-28, day-of-week 0-6)', () => {
    for (const id of ids(200)) {
      const [cron] = expand(id, { cron: 'H H H H H H *' });
      const v = values(cron!);
      assert.deepEqual(sorted(v.second), sorted(oracleValues(oracleSeed(id, 'second'), 0, 59)), cron);
      assert.deepEqual(sorted(v.minute), sorted(oracleValues(oracleSeed(id, 'minute'), 0, 59)), cron);
      assert.deepEqual(sorted(v.hour), sorted(oracleValues(oracleSeed(id, 'hour'), 0, 23)), cron);
      assert.deepEqual(sorted(v.dayOfMonth), sorted(oracleValues(oracleSeed(id, 'day-of-month'), 1, 28)), cron);
      assert.deepEqual(sorted(v.month), sorted(oracleValues(oracleSeed(id, 'month'), 1, 12)), cron);
      assert.deepEqual(sorted(v.dayOfWeek), sorted(oracleValues(oracleSeed(id, 'day-of-week'), 0, 6)), cron);
    }
  });

  const forms: Array<[string, number, number, number | undefined]> = [
    ['H(0-29)', 0, 29, undefined],
    ['H(45-59)', 45, 59, undefined],
    ['H/15', 0, 59, 15],
    ['H/7', 0, 59, 7],
    ['H(0-29)/10', 0, 29, 10],
    ['H(10-50)/20', 10, 50, 20],
    ['H(5-9)/5', 5, 9, 5],
    ['H/60', 0, 59, 60],
  ];
  for (const [form, a, b, n] of forms) {
    it(`${form} in the minute field matches every value the formula gives, and no other`, () => {
      for (const id of ids(100)) {
        const [cron] = expand(id, { cron: `${form} * * * *` });
        assert.deepEqual(
          sorted(values(cron!).minute),
          sorted(oracleValues(oracleSeed(id, 'minute'), a, b, n)),
          `${id}: ${cron}`,
        );
      }
    });
  }

  it('takes names in ranges and leaves the other parts of a list alone', () => {
    for (const id of ids(50)) {
      const [cron] = expand(id, { cron: '0,H(30-59) 9 * H(jan-jun) H(mon-fri)' });
      const v = values(cron!);
      assert.deepEqual(sorted(v.minute), sorted(new Set([0, ...oracleValues(oracleSeed(id, 'minute'), 30, 59)])));
      assert.deepEqual(sorted(v.month), sorted(oracleValues(oracleSeed(id, 'month'), 1, 6)));
      assert.deepEqual(sorted(v.dayOfWeek), sorted(oracleValues(oracleSeed(id, 'day-of-week'), 1, 5)));
    }
  });

  it('expands calendars too, and keeps comments and strings without H as written', () => {
    const id = 'calendar-job';
    const [cal] = expand(id, { calendars: [{ minute: 'H', hour: 'H(8-11)', comment: 'spread' }] });
    assert.equal(
      cal,
      `0 ${[...oracleValues(oracleSeed(id, 'minute'), 0, 59)][0]} ${[...oracleValues(oracleSeed(id, 'hour'), 8, 11)][0]} * * * * # spread`,
    );
    assert.deepEqual(expand(id, { cron: ['CRON_TZ=Asia/Tokyo 0 3 * * * # nightly', '@every 90m/5m'] }), [
      '0 3 * * * # nightly',
      '@every 90m/5m',
    ]);
  });
});

describe('H is stable', () => {
  it('the same id gives the same times on every call, and in another process', () => {
    const sample = ids(20);
    const crons = ['H H * * *', 'H(0-29)/10 H/6 H H(jan-jun) H(mon-fri)', '*/30 H * * * * *'];
    const here = sample.map((id) => crons.map((c) => expand(id, { cron: c })[0]));
    assert.deepEqual(
      sample.map((id) => crons.map((c) => expand(id, { cron: c })[0])),
      here,
    );
    const modulePath = require.resolve('../../src/jobs/cron');
    const script = `const c = require(${JSON.stringify(modulePath)}); const [ids, crons] = JSON.parse(process.argv[1]); process.stdout.write(JSON.stringify(ids.map((id) => crons.map((cron) => c.compileScheduleCrons(id, { cron }).crons[0].temporal))));`;
    const other = JSON.parse(
      execFileSync(process.execPath, ['-e', script, JSON.stringify([sample, crons])], { encoding: 'utf8' }),
    ) as unknown;
    assert.deepEqual(other, here);
  });

  it('is pinned across releases: changing these values moves every H job once', () => {
    // If this fails, the expansion changed: every deployed H job would fire at new times.
    assert.deepEqual(expand('nightly-report', { cron: 'H H * * *' }), [PINNED['nightly-report']]);
    assert.deepEqual(expand('billing.sync', { cron: 'H(0-29)/10 * * * *' }), [PINNED['billing.sync']]);
  });

  it('the fields of one job are independent', () => {
    // (minute mod 6, hour mod 6) over 36 cells: with one seed for both, most cells would be empty.
    const counts = new Array<number>(36).fill(0);
    const sample = ids(1000);
    for (const id of sample) {
      const v = values(expand(id, { cron: 'H H * * *' })[0]!);
      const [m] = v.minute;
      const [h] = v.hour;
      counts[(m! % 6) * 6 + (h! % 6)]! += 1;
    }
    // df 35: mean 35, p = 1e-6 at about 85.
    assert.ok(
      chiSquare(counts, 1000 / 36) < 100,
      `chi-square ${chiSquare(counts, 1000 / 36).toFixed(1)}: ${counts.join(' ')}`,
    );
  });
});

describe('H spreads a herd', () => {
  it('1,000 hourly jobs (H * * * *) cover the hour about uniformly', () => {
    const counts = new Array<number>(60).fill(0);
    for (const id of ids(1000)) {
      const [m] = values(expand(id, { cron: 'H * * * *' })[0]!).minute;
      counts[m!]! += 1;
    }
    const chi = chiSquare(counts, 1000 / 60);
    // df 59: mean 59, p = 1e-6 at about 120. Expected 16.7 a minute.
    assert.ok(chi < 130, `chi-square ${chi.toFixed(1)}: ${counts.join(' ')}`);
    assert.ok(Math.max(...counts) <= 40, `busiest minute has ${Math.max(...counts)} jobs`);
    assert.ok(Math.min(...counts) >= 2, `quietest minute has ${Math.min(...counts)} jobs`);
  });

  it('H(0-29)/10 spreads the offsets over 0-9, and day-of-month H over all of 1-28', () => {
    const offsets = new Array<number>(10).fill(0);
    const days = new Set<number>();
    for (const id of ids(1000)) {
      const v = values(expand(id, { cron: 'H(0-29)/10 0 H * *' })[0]!);
      assert.equal(v.minute.size, 3);
      offsets[Math.min(...v.minute)]! += 1;
      const [d] = v.dayOfMonth;
      assert.ok(d! >= 1 && d! <= 28, `day ${d}`);
      days.add(d!);
    }
    assert.ok(
      offsets.every((c) => c >= 50 && c <= 150),
      `offsets ${offsets.join(' ')}`,
    );
    assert.equal(days.size, 28);
  });
});

describe('H and daylight saving', () => {
  const spec = (id: string, schedule: unknown): JobSpec => {
    const r = parseJobSpec({ id, schedule, task: { type: 'http', url: 'http://x.test/' } });
    assert.ok(r.ok, JSON.stringify(r));
    return r.spec;
  };
  const dates = ['2026-12-01T00:00:00Z', '2027-03-01T00:00:00Z', '2031-06-15T12:00:00Z'].map((d) => new Date(d));

  it('knows the hours each zone skips or repeats', () => {
    assert.deepEqual(sorted(new Set(transitionHours('America/New_York'))), [1, 2]);
    assert.deepEqual(sorted(new Set(transitionHours('Europe/Berlin'))), [2]);
    assert.deepEqual(sorted(new Set(transitionHours('Australia/Lord_Howe'))), [1, 2], 'half-hour shifts');
    assert.deepEqual(sorted(new Set(transitionHours('Asia/Tokyo'))), []);
    assert.deepEqual(sorted(new Set(transitionHours('UTC'))), []);
  });

  for (const [zone, avoided] of [
    ['America/New_York', [1, 2]],
    ['Europe/Berlin', [2]],
  ] as const) {
    it(`H H * * * in ${zone} never lands on ${avoided.join(' or ')} o'clock, so it neither skips nor doubles`, () => {
      const hours = new Set<number>();
      ids(1000).forEach((id, i) => {
        const s = spec(id, { cron: 'H H * * *', timezone: zone });
        const [h] = values(expand(id, s.schedule)[0]!).hour;
        const allowed = [...Array(24).keys()].filter((x) => !(avoided as readonly number[]).includes(x));
        assert.equal(h, allowed[oracleSeed(id, 'hour') % allowed.length], 'the formula over the hours left');
        hours.add(h!);
        if (i < 200)
          for (const now of dates) assert.deepEqual(dstWarnings(s, now), [], `${id} at ${now.toISOString()}`);
      });
      assert.deepEqual(
        sorted(hours),
        [...Array(24).keys()].filter((h) => !(avoided as readonly number[]).includes(h)),
      );
    });
  }

  it('without DST in the zone, every hour is used', () => {
    const hours = new Set<number>();
    for (const id of ids(1000)) hours.add([...values(expand(id, { cron: 'H H * * *' })[0]!).hour][0]!);
    assert.equal(hours.size, 24);
  });

  it('H/6 in the hour field in Berlin avoids the offset whose hours include 2', () => {
    const offsets = new Set<number>();
    for (const id of ids(300))
      offsets.add(Math.min(...values(expand(id, { cron: '0 H/6 * * *', timezone: 'Europe/Berlin' })[0]!).hour));
    assert.deepEqual(sorted(offsets), [0, 1, 3, 4, 5]);
  });

  it('does not depend on the date, with CRON_TZ or timezone alike', () => {
    for (const id of ids(50)) {
      const a = expand(id, { cron: 'CRON_TZ=Europe/Berlin H H * * *' });
      const b = expand(id, { cron: 'H H * * *', timezone: 'Europe/Berlin' });
      assert.deepEqual(a, b);
    }
  });

  it('when the range leaves no other hour, the DST warning names the H job and its expansion', () => {
    const s = spec('stuck-at-two', { cron: 'H H(2-2) * * *', timezone: 'Europe/Berlin' });
    const [cron] = expand('stuck-at-two', s.schedule);
    assert.match(cron!, / 2 \* \* \*$/);
    const w = dstWarnings(s, new Date('2027-01-01T00:00:00Z'));
    assert.equal(w.length, 2, w.join('\n'));
    assert.ok(
      w.every((x) => x.startsWith(`"H H(2-2) * * *" (for job stuck-at-two: ${JSON.stringify(cron)})`)),
      w.join('\n'),
    );
  });
});

describe('validating H', () => {
  const problems = (schedule: unknown) => {
    const r = parseJobSpec({ id: 'v', schedule, task: { type: 'http', url: 'http://x.test/' } });
    return r.ok ? [] : r.problems;
  };
  const valid = [
    'H * * * *',
    'H H(0-7) * * *',
    'H/15 * * * *',
    'H(0-29)/10 * * * *',
    'H * * * * * *',
    '0 H H * * *',
    'CRON_TZ=Europe/Berlin H H * * 1-5',
    'H,30 * * * * # twice',
  ];
  for (const c of valid) it(`accepts ${JSON.stringify(c)}`, () => assert.deepEqual(problems({ cron: c }), []));

  const invalid: Array<[unknown, string, RegExp]> = [
    [{ cron: 'H(0-99) * * * *' }, 'schedule.cron', /^minute field "H\(0-99\)": in H\(0-99\): 99 is not in range 0-59/],
    [{ cron: ['0 3 * * *', '0 H(5) * * *'] }, 'schedule.cron.1', /^hour field "H\(5\)": H\(5\) needs a range/],
    [{ cron: 'H/0 * * * *' }, 'schedule.cron', /^minute field "H\/0": step must be a positive integer/],
    [{ cron: 'H/61 * * * *' }, 'schedule.cron', /^minute field "H\/61": step 61 is longer than the range 0-59/],
    [{ cron: 'HH * * * *' }, 'schedule.cron', /^minute field "HH": "HH" is not an H form/],
    [{ cron: 'H-5 * * * *' }, 'schedule.cron', /^minute field "H-5"/],
    [{ cron: 'H(7-3) * * * *' }, 'schedule.cron', /^minute field "H\(7-3\)": in H\(7-3\): 3 is not in range 7-59/],
    [{ cron: '0 0 H(0-31) * *' }, 'schedule.cron', /^day-of-month field/],
    [{ cron: '0 0 1 1 * H' }, 'schedule.cron', /^year field "H": H is not supported in the year field/],
    [{ cron: 'CRON_TZ=Europe/Berlin H(60-61) * * * *' }, 'schedule.cron', /^minute field "H\(60-61\)"/],
    [{ cron: '@every H' }, 'schedule.cron', /H cannot be combined with @every/],
    [{ cron: 'CRON_TZ=Europe/Berlin @daily H' }, 'schedule.cron', /H cannot be combined with @daily/],
    [{ calendars: [{ minute: 'H(70-80)' }] }, 'schedule.calendars.0.minute', /^minute field "H\(70-80\)"/],
  ];
  for (const [schedule, path, message] of invalid) {
    it(`rejects ${JSON.stringify(schedule)} naming ${path}`, () => {
      const p = problems(schedule);
      assert.equal(p.length, 1, JSON.stringify(p));
      assert.equal(p[0]!.path, path);
      assert.match(p[0]!.message, message);
    });
  }

  it('parses a CRON_TZ prefix once, for validation, mapping and warnings alike', () => {
    const r = parseCron('CRON_TZ=America/New_York H 3 * * * # spread');
    assert.ok(r.ok);
    assert.equal(r.cron.timezone, 'America/New_York');
    assert.equal(r.cron.comment, 'spread');
    assert.equal(r.cron.hashed, true);
  });
});

describe('mapping an H job to a schedule', () => {
  const job = (id: string, cron: string) => {
    const [registered] = JobRegistry.create([
      defineJob({ id, schedule: { cron, timezone: 'Europe/Berlin' }, run: () => null }),
    ]).jobs;
    return toSchedule(registered!, 'q', 'code');
  };

  it('sends Temporal the expansion, keeps H in the memo, and hashes alike on every call', () => {
    const a = job('spread-me', 'H H * * *');
    assert.deepEqual(
      a.options.spec.cronExpressions,
      expand('spread-me', { cron: 'H H * * *', timezone: 'Europe/Berlin' }),
    );
    assert.doesNotMatch(a.options.spec.cronExpressions![0]!, /H/);
    assert.equal(a.options.spec.timezone, 'Europe/Berlin');
    assert.deepEqual(a.memo.spec.schedule, { cron: 'H H * * *', timezone: 'Europe/Berlin' });
    assert.equal(job('spread-me', 'H H * * *').memo.hash, a.memo.hash);
  });
});

describe('documenting H', () => {
  it('the OpenAPI document describes H where cron strings are described, and jitter beside it', () => {
    const doc = openApiDocument() as {
      components: {
        schemas: { JobSpec: { properties: { schedule: { properties: Record<string, { description?: string }> } } } };
      };
    };
    const schedule = doc.components.schemas.JobSpec.properties.schedule.properties;
    assert.match(schedule.cron?.description ?? '', /H\(a-b\)\/n/);
    assert.match(schedule.cron?.description ?? '', /day-of-month: 1-28/);
    assert.match(schedule.jitter?.description ?? '', /H in cron/);
  });
});
