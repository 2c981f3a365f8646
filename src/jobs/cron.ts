import { createHash } from 'node:crypto';
import { isValidTimeZone, transitionHours } from '../util/time-zone';

/**
 * Sundial's one cron parser: validation (src/jobs/spec.ts), the mapping to a Temporal schedule
 * and the DST warnings all read cron strings through {@link parseCron} and
 * {@link compileScheduleCrons}.
 *
 * The grammar is the one the Temporal server accepts (service/worker/scheduler/calendar.go), so
 * that a typo stops start-up here instead of surfacing as an InvalidArgument from the server:
 * - 5 fields: `minute hour day-of-month month day-of-week`
 * - 6 fields: the same plus `year` (NOT seconds, unlike Quartz and robfig/cron)
 * - 7 fields: `second minute hour day-of-month month day-of-week year`
 * - `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`
 * - `@every <duration>[/<offset>]`
 * - an optional `CRON_TZ=<zone> ` or `TZ=<zone> ` prefix and a trailing `# comment`.
 * Each field is `*`, `x`, `x-y`, `x/step`, `x-y/step`, `*\/step` or a comma list of those;
 * months and weekdays may be names (`jan`, `mon`), weekday 7 is Sunday. `L`, `W`, `?` and `#`
 * (Quartz extensions) are not supported by Temporal.
 *
 * Plus one extension Temporal does not know, expanded before a schedule is written: Jenkins'
 * `H` ("hash"), a value chosen by hashing the job id, in every field but the year:
 * - `H`: one value of the field's range (day-of-month: 1-28, so it fires every month;
 *   day-of-week: 0-6);
 * - `H(a-b)`: one value of a..b;
 * - `H/n`, `H(a-b)/n`: every n-th value from an offset in the first n values of the range.
 * See {@link hashSeed} for the hash and {@link expandHashedField} for the choice.
 */

const MONTHS = [
  'january',
  'february',
  'march',
  'april',
  'may',
  'june',
  'july',
  'august',
  'september',
  'october',
  'november',
  'december',
];
const WEEKDAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];

type FieldKind = 'int' | 'month' | 'dow';

/** One cron field: its name (as errors and the `H` hash use it), its range and `H`'s range. */
export interface FieldRule {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly kind: FieldKind;
  /** The range a rangeless `H` picks from; undefined where `H` is refused. */
  readonly hash: { readonly min: number; readonly max: number } | undefined;
}

const SECOND: FieldRule = { name: 'second', min: 0, max: 59, kind: 'int', hash: { min: 0, max: 59 } };
const MINUTE: FieldRule = { name: 'minute', min: 0, max: 59, kind: 'int', hash: { min: 0, max: 59 } };
const HOUR: FieldRule = { name: 'hour', min: 0, max: 23, kind: 'int', hash: { min: 0, max: 23 } };
// 29-31 are missing from some months: a day-of-month H stays in 1-28 so that it fires every month.
const DAY_OF_MONTH: FieldRule = { name: 'day-of-month', min: 1, max: 31, kind: 'int', hash: { min: 1, max: 28 } };
const MONTH: FieldRule = { name: 'month', min: 1, max: 12, kind: 'month', hash: { min: 1, max: 12 } };
// 7 is Sunday again: H over 0-7 would give Sunday twice the weight.
const DAY_OF_WEEK: FieldRule = { name: 'day-of-week', min: 0, max: 7, kind: 'dow', hash: { min: 0, max: 6 } };
// A hashed year would pick one year of 2000-2100, most likely one that has passed.
const YEAR: FieldRule = { name: 'year', min: 2000, max: 2100, kind: 'int', hash: undefined };

const LAYOUTS: Readonly<Record<number, readonly FieldRule[]>> = {
  5: [MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK],
  6: [MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK, YEAR],
  7: [SECOND, MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK, YEAR],
};

/** The rules of a calendar's fields, by the calendar's key. */
export const CALENDAR_FIELDS = {
  second: SECOND,
  minute: MINUTE,
  hour: HOUR,
  dayOfMonth: DAY_OF_MONTH,
  month: MONTH,
  dayOfWeek: DAY_OF_WEEK,
  year: YEAR,
} as const;

const MACROS: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

const GO_DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h|d))+$/;
const TZ_PREFIX = /^\s*(?:CRON_)?TZ=(\S*)(?:\s+|$)/;
const HASH_PART = /^H(?:\(([^()]*)\))?(?:\/(.*))?$/;

/** One comma-separated part of a field: Temporal syntax as written, or an `H` form. */
export type FieldPart =
  | { readonly kind: 'plain'; readonly text: string }
  | {
      readonly kind: 'hash';
      readonly text: string;
      readonly from: number;
      readonly to: number;
      readonly step: number | undefined;
    };

/** A field of a parsed cron string. */
export interface CronField {
  readonly rule: FieldRule;
  readonly text: string;
  readonly parts: readonly FieldPart[];
}

/** What a cron string says once the prefix and comment are off. */
export type CronForm =
  | { readonly kind: 'fields'; readonly fields: readonly CronField[] }
  | { readonly kind: 'macro'; readonly text: string }
  | { readonly kind: 'every'; readonly text: string };

/** A valid cron string taken apart. */
export interface ParsedCron {
  /** As written. */
  readonly expression: string;
  /** The zone of a `CRON_TZ=`/`TZ=` prefix. */
  readonly timezone: string | undefined;
  /** The expression without its prefix, as Temporal is to receive it when nothing is hashed. */
  readonly body: string;
  readonly form: CronForm;
  readonly comment: string | undefined;
  /** Whether any field has an `H` (Temporal cannot take it as it is). */
  readonly hashed: boolean;
}

/** {@link parseCron}'s answer: the parsed string, or what is wrong with it. */
export type CronParseResult =
  { readonly ok: true; readonly cron: ParsedCron } | { readonly ok: false; readonly problem: string };

/** A cron string that should have been validated was not valid. */
export class InvalidCronError extends Error {
  constructor(
    message: string,
    readonly expression: string,
  ) {
    super(message);
    this.name = this.constructor.name;
  }
}

function parseValue(raw: string, rule: FieldRule, min: number): number | string {
  const s = raw.toLowerCase();
  if (rule.kind === 'month' && s.length >= 3) {
    const i = MONTHS.findIndex((m) => m.startsWith(s));
    if (i >= 0) return i + 1 >= min ? i + 1 : `${raw} is before the range start`;
  }
  if (rule.kind === 'dow' && s.length >= 2) {
    const i = WEEKDAYS.findIndex((d) => d.startsWith(s));
    if (i >= 0) return i >= min ? i : `${raw} is before the range start`;
  }
  if (!/^\d+$/.test(raw)) return `${JSON.stringify(raw)} is not a number${rule.kind === 'int' ? '' : ' or name'}`;
  const n = Number(raw);
  if (n < min || n > rule.max) return `${raw} is not in range ${min}-${rule.max}`;
  return n;
}

function parsePlainPart(part: string, rule: FieldRule): string | undefined {
  const slashes = part.split('/');
  if (slashes.length > 2) return 'too many slashes';
  const [rangePart = '', step] = slashes;
  if (step !== undefined && !/^[1-9]\d*$/.test(step)) return 'step must be a positive integer';
  if (rangePart === '*') return undefined;
  const dashes = rangePart.split('-');
  if (dashes.length > 2) return 'too many dashes';
  const start = parseValue(dashes[0] ?? '', rule, rule.min);
  if (typeof start === 'string') return start;
  if (dashes.length === 2) {
    const end = parseValue(dashes[1] ?? '', rule, start);
    if (typeof end === 'string') return end;
  }
  return undefined;
}

function parseHashPart(part: string, rule: FieldRule): FieldPart | string {
  if (rule.hash === undefined) return `H is not supported in the ${rule.name} field`;
  const m = HASH_PART.exec(part);
  if (m === null) return `${JSON.stringify(part)} is not an H form: use H, H(a-b), H/n or H(a-b)/n`;
  const [, range, stepText] = m;
  let from = rule.hash.min;
  let to = rule.hash.max;
  if (range !== undefined) {
    const ends = range.split('-');
    if (ends.length !== 2) return `H(${range}) needs a range a-b, e.g. H(0-29)`;
    const a = parseValue(ends[0] ?? '', rule, rule.min);
    if (typeof a === 'string') return `in H(${range}): ${a}`;
    const b = parseValue(ends[1] ?? '', rule, a);
    if (typeof b === 'string') return `in H(${range}): ${b}`;
    [from, to] = [a, b];
  }
  let step: number | undefined;
  if (stepText !== undefined) {
    if (!/^[1-9]\d*$/.test(stepText)) return 'step must be a positive integer';
    step = Number(stepText);
    if (step > to - from + 1) return `step ${step} is longer than the range ${from}-${to}`;
  }
  return { kind: 'hash', text: part, from, to, step };
}

function parseField(text: string, rule: FieldRule): CronField | string {
  const parts: FieldPart[] = [];
  for (const part of text.split(',')) {
    if (part.startsWith('H')) {
      const hashed = parseHashPart(part, rule);
      if (typeof hashed === 'string') return `${rule.name} field ${JSON.stringify(text)}: ${hashed}`;
      parts.push(hashed);
      continue;
    }
    const problem = parsePlainPart(part, rule);
    if (problem !== undefined) return `${rule.name} field ${JSON.stringify(text)}: ${problem}`;
    parts.push({ kind: 'plain', text: part });
  }
  return { rule, text, parts };
}

/** Returns the problem with one field (`H` forms included), or undefined when it is valid. */
export function checkCronField(field: string, rule: FieldRule): string | undefined {
  const parsed = parseField(field, rule);
  return typeof parsed === 'string' ? parsed : undefined;
}

/**
 * Parses one cron string: Temporal's forms plus `H`. Time zones of a `CRON_TZ=` prefix are
 * checked against the runtime's tz database.
 */
export function parseCron(expression: string): CronParseResult {
  const fail = (problem: string): CronParseResult => ({ ok: false, problem });
  let body = expression;
  let timezone: string | undefined;
  const prefix = TZ_PREFIX.exec(expression);
  if (prefix !== null) {
    body = expression.slice(prefix[0].length);
    if (body.trim() === '') return fail('cron expression has a time zone but no fields');
    timezone = prefix[1]!;
    if (!isValidTimeZone(timezone)) return fail(`unknown time zone ${JSON.stringify(timezone)} in cron expression`);
  }
  const hashAt = body.indexOf('#');
  const comment = hashAt >= 0 ? body.slice(hashAt + 1).trim() : undefined;
  const c = (hashAt >= 0 ? body.slice(0, hashAt) : body).trim();
  if (c === '') return fail('cron expression is empty');
  const parsed = (form: CronForm, hashed = false): CronParseResult => ({
    ok: true,
    cron: { expression, timezone, body, form, comment, hashed },
  });
  if (c.startsWith('@')) {
    if (c.includes('H'))
      return fail(
        `H cannot be combined with ${c.split(/\s/)[0]}: write the fields instead, e.g. "H * * * *" for hourly at a hashed minute`,
      );
    if (c.startsWith('@every')) {
      const rest = c.slice('@every'.length).trim();
      const [interval = '', offset] = rest.split('/');
      if (!GO_DURATION.test(interval))
        return fail(`@every needs a duration such as "15m" or "1h30m", got ${JSON.stringify(rest)}`);
      if (offset !== undefined && !GO_DURATION.test(offset))
        return fail(`@every offset must be a duration, got ${JSON.stringify(offset)}`);
      return parsed({ kind: 'every', text: c });
    }
    if (MACROS[c] === undefined)
      return fail(`unknown cron macro ${JSON.stringify(c)} (use ${Object.keys(MACROS).join(', ')} or @every)`);
    return parsed({ kind: 'macro', text: c });
  }
  const texts = c.split(/\s+/);
  const rules = LAYOUTS[texts.length];
  if (rules === undefined) {
    return fail(
      `cron expression must have 5 fields (minute hour day-of-month month day-of-week), 6 (plus year) or 7 (second first, year last); got ${texts.length}`,
    );
  }
  const fields: CronField[] = [];
  for (let i = 0; i < texts.length; i++) {
    const field = parseField(texts[i]!, rules[i]!);
    if (typeof field === 'string') return fail(field);
    fields.push(field);
  }
  return parsed(
    { kind: 'fields', fields },
    fields.some((f) => f.parts.some((p) => p.kind === 'hash')),
  );
}

/** Checks one cron string: undefined when valid (after `H` expansion, Temporal accepts it), else the problem. */
export function checkCron(expression: string): string | undefined {
  const r = parseCron(expression);
  return r.ok ? undefined : r.problem;
}

/**
 * The `H` hash of one field of one job: SHA-256 of `<job id>\n<field name>` (field names as in
 * {@link CALENDAR_FIELDS}' rules: `minute`, `day-of-month`, ...), its first 6 bytes read as a
 * big-endian unsigned integer. Not Java's `String.hashCode` as in Jenkins: a job named alike in
 * Jenkins lands elsewhere. Depends on nothing but its inputs, so every process and every deploy
 * agrees; hashing the field name makes the fields of one job independent of each other.
 */
export function hashSeed(jobId: string, fieldName: string): number {
  return createHash('sha256').update(`${jobId}\n${fieldName}`).digest().readUIntBE(0, 6);
}

/** Values from `start` to `to` by `step`. */
function stepped(start: number, to: number, step: number): number[] {
  const out: number[] = [];
  for (let v = start; v <= to; v += step) out.push(v);
  return out;
}

/**
 * One `H` part in Temporal syntax. The candidates are, for `H`/`H(a-b)`, every value of the
 * range; for `H/n`/`H(a-b)/n`, the offsets a..a+n-1 (each meaning "every n-th from here to b").
 * Candidates whose hours meet `avoidHours` (hour field only) are dropped unless none is left;
 * the choice is `candidates[seed mod candidates.length]`.
 */
export function expandHashedField(
  part: Extract<FieldPart, { kind: 'hash' }>,
  rule: FieldRule,
  seed: number,
  avoidHours: ReadonlySet<number> = new Set(),
): string {
  const { from, to, step } = part;
  const all = step === undefined ? stepped(from, to, 1) : stepped(from, Math.min(from + step - 1, to), 1);
  const hits = (start: number) =>
    (step === undefined ? [start] : stepped(start, to, step)).some((h) => avoidHours.has(h));
  const clear = rule === HOUR ? all.filter((start) => !hits(start)) : all;
  const candidates = clear.length > 0 ? clear : all;
  const start = candidates[seed % candidates.length]!;
  return step === undefined || start === to ? String(start) : `${start}-${to}/${step}`;
}

/**
 * The cron string Temporal is to receive for one job: no prefix (the zone goes to the schedule's
 * `timezone`), `H` expanded for `jobId`; `avoidHours` are the hours an hour-field `H` keeps clear
 * of (see {@link compileScheduleCrons}). Strings without `H` pass as written.
 */
export function expandCronForJob(cron: ParsedCron, jobId: string, avoidHours: ReadonlySet<number> = new Set()): string {
  if (!cron.hashed || cron.form.kind !== 'fields') return cron.body;
  const fields = cron.form.fields.map((f) =>
    f.parts
      .map((p) =>
        p.kind === 'plain' ? p.text : expandHashedField(p, f.rule, hashSeed(jobId, f.rule.name), avoidHours),
      )
      .join(','),
  );
  return `${fields.join(' ')}${cron.comment !== undefined ? ` # ${cron.comment}` : ''}`;
}

/** A calendar as written in a JobSpec: each field in cron field syntax. */
export interface CalendarFields {
  readonly second?: string | undefined;
  readonly minute?: string | undefined;
  readonly hour?: string | undefined;
  readonly dayOfMonth?: string | undefined;
  readonly month?: string | undefined;
  readonly dayOfWeek?: string | undefined;
  readonly year?: string | undefined;
  readonly comment?: string | undefined;
}

/**
 * A calendar is a 7-field cron string field by field (Temporal parses both with the same code),
 * with Temporal's calendar defaults: second, minute and hour 0, the rest every value.
 */
export function calendarToCron(cal: CalendarFields): string {
  const f = (v: string | undefined, d: string) => (v ?? d).replace(/\s+/g, '');
  const fields = [
    f(cal.second, '0'),
    f(cal.minute, '0'),
    f(cal.hour, '0'),
    f(cal.dayOfMonth, '*'),
    f(cal.month, '*'),
    f(cal.dayOfWeek, '*'),
    f(cal.year, '*'),
  ];
  return `${fields.join(' ')}${cal.comment ? ` # ${cal.comment}` : ''}`;
}

/** The cron strings of a schedule, each with what Temporal receives for it. */
export interface CompiledCron {
  /** As written (a calendar as its 7-field string). */
  readonly written: string;
  /** For Temporal: prefix off, `H` expanded. */
  readonly temporal: string;
  readonly hashed: boolean;
}

/** {@link compileScheduleCrons}' answer. */
export interface CompiledCrons {
  /** The schedule's zone: `timezone`, else the zone of the `CRON_TZ=` prefixes, else none (UTC). */
  readonly timezone: string | undefined;
  readonly crons: readonly CompiledCron[];
  /** Whether any string has an `H`. */
  readonly hashed: boolean;
}

/** The zones named by `CRON_TZ=`/`TZ=` prefixes of valid strings (invalid ones are skipped). */
export function cronZones(crons: readonly string[]): string[] {
  return crons.flatMap((c) => {
    const r = parseCron(c);
    return r.ok && r.cron.timezone !== undefined ? [r.cron.timezone] : [];
  });
}

/**
 * A validated schedule's cron strings and calendars as Temporal is to receive them, for job
 * `jobId`. In a zone with daylight-saving transitions, an `H` in the hour field keeps clear of
 * the local hours a transition skips or repeats ({@link transitionHours}: 2 in Europe/Berlin, 1
 * and 2 in America/New_York) whenever its range leaves another choice, so a spread job neither
 * loses nor doubles a run. The result depends on the job, the schedule and the tz database, never
 * on the date.
 * @throws InvalidCronError for a string that does not parse (validation should have refused it)
 */
export function compileScheduleCrons(
  jobId: string,
  schedule: {
    readonly cron?: string | readonly string[] | undefined;
    readonly calendars?: readonly CalendarFields[] | undefined;
    readonly timezone?: string | undefined;
  },
): CompiledCrons {
  const written = [
    ...(schedule.cron === undefined ? [] : typeof schedule.cron === 'string' ? [schedule.cron] : schedule.cron),
    ...(schedule.calendars ?? []).map(calendarToCron),
  ];
  const parsed = written.map((c) => {
    const r = parseCron(c);
    if (!r.ok) throw new InvalidCronError(`invalid cron expression ${JSON.stringify(c)}: ${r.problem}`, c);
    return r.cron;
  });
  const timezone = schedule.timezone ?? parsed.find((p) => p.timezone !== undefined)?.timezone;
  const hashed = parsed.some((p) => p.hashed);
  const avoid = hashed && timezone !== undefined ? transitionHours(timezone) : new Set<number>();
  const crons = parsed.map((p) => ({
    written: p.expression,
    temporal: expandCronForJob(p, jobId, avoid),
    hashed: p.hashed,
  }));
  return { timezone, crons, hashed };
}

/** The values a cron field matches, in Temporal's AND semantics. */
export interface CronValues {
  readonly second: Set<number>;
  readonly minute: Set<number>;
  readonly hour: Set<number>;
  readonly dayOfMonth: Set<number>;
  readonly month: Set<number>;
  readonly dayOfWeek: Set<number>;
}

/**
 * The values a valid field without `H` matches, e.g. `1-5/2` over minute → {1, 3, 5}.
 * Day-of-week 7 is 0.
 */
export function expandCronField(field: string, rule: FieldRule): Set<number> {
  const out = new Set<number>();
  for (const part of field.split(',')) {
    const [rangePart = '', stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    let start = rule.min;
    let end = rule.max;
    if (rangePart !== '*') {
      const [a = '', b] = rangePart.split('-');
      start = parseValue(a, rule, rule.min) as number;
      end = b !== undefined ? (parseValue(b, rule, start) as number) : stepText !== undefined ? rule.max : start;
    }
    for (let v = start; v <= end; v += step) out.add(rule.kind === 'dow' && v === 7 ? 0 : v);
  }
  return out;
}

/**
 * A cron string's fields as value sets; undefined for `@every`.
 * @throws InvalidCronError for an invalid string or one with `H` left in it (expand it first)
 */
export function cronValues(expression: string): CronValues | undefined {
  const r = parseCron(expression);
  if (!r.ok)
    throw new InvalidCronError(`invalid cron expression ${JSON.stringify(expression)}: ${r.problem}`, expression);
  if (r.cron.hashed)
    throw new InvalidCronError(
      `cron expression ${JSON.stringify(expression)} has H: expand it for its job first`,
      expression,
    );
  const form = r.cron.form;
  if (form.kind === 'every') return undefined;
  const f = form.kind === 'macro' ? MACROS[form.text]!.split(' ') : form.fields.map((x) => x.text);
  const [sec, rest] = f.length === 7 ? [f[0]!, f.slice(1)] : ['0', f];
  return {
    second: expandCronField(sec, SECOND),
    minute: expandCronField(rest[0]!, MINUTE),
    hour: expandCronField(rest[1]!, HOUR),
    dayOfMonth: expandCronField(rest[2]!, DAY_OF_MONTH),
    month: expandCronField(rest[3]!, MONTH),
    dayOfWeek: expandCronField(rest[4]!, DAY_OF_WEEK),
  };
}
