/**
 * Validation of cron strings against the grammar the Temporal server accepts
 * (service/worker/scheduler/calendar.go), so that a typo stops start-up here instead of
 * surfacing as an InvalidArgument from the server.
 *
 * Temporal's forms:
 * - 5 fields: `minute hour day-of-month month day-of-week`
 * - 6 fields: the same plus `year` (NOT seconds, unlike Quartz and robfig/cron)
 * - 7 fields: `second minute hour day-of-month month day-of-week year`
 * - `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly`
 * - `@every <duration>[/<offset>]`
 * - an optional `CRON_TZ=<zone> ` or `TZ=<zone> ` prefix and a trailing `# comment`.
 * Each field is `*`, `x`, `x-y`, `x/step`, `x-y/step`, `*\/step` or a comma list of those;
 * months and weekdays may be names (`jan`, `mon`), weekday 7 is Sunday. `L`, `W`, `?` and `#`
 * (Quartz extensions) are not supported by Temporal.
 */

const MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'];
const WEEKDAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];

type FieldKind = 'int' | 'month' | 'dow';

interface FieldRule {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly kind: FieldKind;
}

const SECOND: FieldRule = { name: 'second', min: 0, max: 59, kind: 'int' };
const MINUTE: FieldRule = { name: 'minute', min: 0, max: 59, kind: 'int' };
const HOUR: FieldRule = { name: 'hour', min: 0, max: 23, kind: 'int' };
const DAY_OF_MONTH: FieldRule = { name: 'day-of-month', min: 1, max: 31, kind: 'int' };
const MONTH: FieldRule = { name: 'month', min: 1, max: 12, kind: 'month' };
const DAY_OF_WEEK: FieldRule = { name: 'day-of-week', min: 0, max: 7, kind: 'dow' };
const YEAR: FieldRule = { name: 'year', min: 2000, max: 2100, kind: 'int' };

const PREDEFINED = new Set(['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly']);

const GO_DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h|d))+$/;

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

/** Returns the problem with one field, or undefined when it is valid. */
export function checkCronField(field: string, rule: FieldRule): string | undefined {
  for (const part of field.split(',')) {
    const slashes = part.split('/');
    if (slashes.length > 2) return `${rule.name} field ${JSON.stringify(field)}: too many slashes`;
    const [rangePart = '', step] = slashes;
    if (step !== undefined && !/^[1-9]\d*$/.test(step)) {
      return `${rule.name} field ${JSON.stringify(field)}: step must be a positive integer`;
    }
    if (rangePart === '*') continue;
    const dashes = rangePart.split('-');
    if (dashes.length > 2) return `${rule.name} field ${JSON.stringify(field)}: too many dashes`;
    const start = parseValue(dashes[0] ?? '', rule, rule.min);
    if (typeof start === 'string') return `${rule.name} field ${JSON.stringify(field)}: ${start}`;
    if (dashes.length === 2) {
      const end = parseValue(dashes[1] ?? '', rule, start);
      if (typeof end === 'string') return `${rule.name} field ${JSON.stringify(field)}: ${end}`;
    }
  }
  return undefined;
}

/**
 * Checks one cron string. Returns undefined when Temporal would accept it, else a message
 * saying what is wrong. Time zones in a `CRON_TZ=` prefix are checked by the caller's
 * `isValidTimeZone`.
 */
export function checkCron(expression: string, isValidTimeZone: (tz: string) => boolean): string | undefined {
  let c = expression.trim();
  if (c === '') return 'cron expression is empty';
  if (c.startsWith('TZ=') || c.startsWith('CRON_TZ=')) {
    const space = c.indexOf(' ');
    if (space < 0) return 'cron expression has a time zone but no fields';
    const tz = c.slice(c.indexOf('=') + 1, space);
    if (!isValidTimeZone(tz)) return `unknown time zone ${JSON.stringify(tz)} in cron expression`;
    c = c.slice(space + 1);
  }
  const hash = c.indexOf('#');
  if (hash >= 0) c = c.slice(0, hash);
  c = c.trim();
  if (c.startsWith('@every')) {
    const rest = c.slice('@every'.length).trim();
    const [interval = '', offset] = rest.split('/');
    if (!GO_DURATION.test(interval)) return `@every needs a duration such as "15m" or "1h30m", got ${JSON.stringify(rest)}`;
    if (offset !== undefined && !GO_DURATION.test(offset)) return `@every offset must be a duration, got ${JSON.stringify(offset)}`;
    return undefined;
  }
  if (c.startsWith('@')) {
    return PREDEFINED.has(c) ? undefined : `unknown cron macro ${JSON.stringify(c)} (use ${[...PREDEFINED].join(', ')} or @every)`;
  }
  const fields = c.split(/\s+/);
  let rules: FieldRule[];
  switch (fields.length) {
    case 5:
      rules = [MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK];
      break;
    case 6:
      rules = [MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK, YEAR];
      break;
    case 7:
      rules = [SECOND, MINUTE, HOUR, DAY_OF_MONTH, MONTH, DAY_OF_WEEK, YEAR];
      break;
    default:
      return `cron expression must have 5 fields (minute hour day-of-month month day-of-week), 6 (plus year) or 7 (second first, year last); got ${fields.length}`;
  }
  for (let i = 0; i < fields.length; i++) {
    const problem = checkCronField(fields[i]!, rules[i]!);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/**
 * The values a valid field matches, e.g. `1-5/2` over minute → {1, 3, 5}. Day-of-week 7 is 0.
 * Assumes the field passed {@link checkCronField}.
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

/** A cron string's fields as value sets (Temporal's AND semantics); undefined for @every. */
export function expandCron(expression: string): { second: Set<number>; minute: Set<number>; hour: Set<number>; dayOfMonth: Set<number>; month: Set<number>; dayOfWeek: Set<number> } | undefined {
  let c = expression.trim().replace(/^(CRON_)?TZ=\S+\s+/, '');
  const hash = c.indexOf('#');
  if (hash >= 0) c = c.slice(0, hash);
  c = c.trim();
  if (c.startsWith('@every')) return undefined;
  const macros: Record<string, string> = { '@yearly': '0 0 1 1 *', '@annually': '0 0 1 1 *', '@monthly': '0 0 1 * *', '@weekly': '0 0 * * 0', '@daily': '0 0 * * *', '@midnight': '0 0 * * *', '@hourly': '0 * * * *' };
  c = macros[c] ?? c;
  const f = c.split(/\s+/);
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

export const CALENDAR_FIELDS = { second: SECOND, minute: MINUTE, hour: HOUR, dayOfMonth: DAY_OF_MONTH, month: MONTH, dayOfWeek: DAY_OF_WEEK, year: YEAR } as const;
