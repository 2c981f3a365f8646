/**
 * Just enough PromQL lexing to check what a query reads: which metric names it selects, and which
 * aggregation first wraps each selector. promtool checks the syntax itself (test/unit/prometheus.test.ts);
 * these helpers assume a query promtool accepts.
 */

const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'offset',
  'bool',
  'inf',
  'nan',
]);

/** PromQL's aggregation operators: the ones that combine series across instances. */
export const AGGREGATIONS = new Set([
  'sum',
  'avg',
  'min',
  'max',
  'count',
  'group',
  'stddev',
  'stdvar',
  'topk',
  'bottomk',
  'quantile',
  'count_values',
  'limitk',
  'limit_ratio',
]);

/** A metric selector in a query, and the aggregations around it, innermost first. */
export interface Selector {
  readonly metric: string;
  readonly aggregations: readonly string[];
}

/**
 * Blanks what cannot hold a metric name, keeping every other character where it was: string
 * literals, comments, label matchers `{...}`, ranges and subqueries `[...]`, grouping label lists
 * (`by (...)`, `on (...)`, ...) and `offset <duration>`.
 */
function blankNonNames(expr: string): string {
  const blank = (m: string) => ' '.repeat(m.length);
  return expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, blank)
    .replace(/#[^\n]*/g, blank)
    .replace(/\{[^}]*\}/g, blank)
    .replace(/\[[^\]]*\]/g, blank)
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, blank)
    .replace(/\boffset\s+-?[0-9a-z]+/gi, blank)
    .replace(
      /(^|[^A-Za-z0-9_:])(\d+(\.\d*)?([eE][+-]?\d+)?|0x[0-9a-fA-F]+)/g,
      (m, before: string) => before + ' '.repeat(m.length - before.length),
    );
}

/** Every metric selector of `expr`, in order, with the aggregation operators enclosing it. */
export function selectors(expr: string): Selector[] {
  const text = blankNonNames(expr);
  // For each open parenthesis: the identifier right before it, if any (a function or aggregation).
  const opener: (string | undefined)[] = [];
  const found: Selector[] = [];
  const token = /[A-Za-z_:][A-Za-z0-9_:]*|[()]/g;
  let previous: { name: string; end: number } | undefined;
  for (let m = token.exec(text); m !== null; m = token.exec(text)) {
    const t = m[0];
    if (t === '(') {
      const called =
        previous !== undefined && text.slice(previous.end, m.index).trim() === '' ? previous.name : undefined;
      opener.push(called);
      previous = undefined;
      continue;
    }
    if (t === ')') {
      opener.pop();
      previous = undefined;
      continue;
    }
    previous = { name: t, end: m.index + t.length };
    if (KEYWORDS.has(t.toLowerCase())) continue;
    // A name followed by "(" calls a function or aggregation: the "(" branch above sees it.
    const rest = text.slice(m.index + t.length);
    if (/^\s*\(/.test(rest)) continue;
    // `sum by (x) (...)`: the grouping list is blanked, so the aggregation's "(" comes after spaces.
    found.push({
      metric: t,
      aggregations: opener.filter((o): o is string => o !== undefined && AGGREGATIONS.has(o)).reverse(),
    });
  }
  return found;
}

/** The metric names `expr` selects, each once. */
export function metricNames(expr: string): string[] {
  return [...new Set(selectors(expr).map((s) => s.metric))];
}
