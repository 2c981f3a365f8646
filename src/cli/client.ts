import type { z } from 'zod';
import { problemSchema, type ProblemDocument } from '../api/schemas';

/** The API answered with an error: its problem document (or what stood in for one). */
export class ApiProblemError extends Error {
  override readonly name = 'ApiProblemError';
  constructor(readonly problem: ProblemDocument) {
    super(problem.detail);
  }
  get status(): number {
    return this.problem.status;
  }
}

/** Nothing answered at the API's URL (refused, unknown host, timeout). */
export class ApiUnreachableError extends Error {
  override readonly name = 'ApiUnreachableError';
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`cannot reach the Sundial API at ${url}: ${reason}`);
  }
}

/** The API answered, but not with what its OpenAPI document promises (a proxy, another service). */
export class ApiResponseError extends Error {
  override readonly name = 'ApiResponseError';
}

export interface ApiClientOptions {
  /** Base URL, e.g. http://127.0.0.1:8080 (the `/api/v1` prefix is added). */
  readonly baseUrl: string;
  /** Sent as `Authorization: Bearer <key>`; never printed. */
  readonly apiKey?: string | undefined;
  /** How long one request may take, in ms. @default 30000 */
  readonly timeoutMs?: number;
}

export interface RequestOptions {
  readonly query?: Record<string, string | number | undefined>;
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
}

/** Why fetch failed, in words: Node's fetch says only "fetch failed" and hides the code in `cause`. */
function networkReason(err: unknown): string {
  const e = err as { name?: string; cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError') return 'no answer in time';
  const code = e.cause?.code;
  if (code === 'ECONNREFUSED')
    return 'connection refused (is Sundial running? start it with `sundial dev`, or set --api-url / SUNDIAL_API_URL)';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'unknown host';
  if (code === 'ECONNRESET') return 'connection reset';
  return e.cause?.message ?? (err as Error).message;
}

/**
 * The REST API over HTTP, answers checked against the API's own response schemas
 * (src/api/schemas.ts), so the CLI and the OpenAPI document cannot drift apart unnoticed.
 */
export class ApiClient {
  private readonly base: string;
  constructor(private readonly opts: ApiClientOptions) {
    this.base = opts.baseUrl.replace(/\/+$/, '');
  }

  /**
   * One request. Resolves with the parsed answer (undefined for 204).
   * @throws ApiProblemError for a 4xx/5xx answer, ApiUnreachableError when nothing answers,
   * ApiResponseError for an answer that is not the API's.
   */
  async request<S extends z.ZodType>(
    method: string,
    path: string,
    schema: S | undefined,
    opts: RequestOptions = {},
  ): Promise<z.input<S>> {
    const url = new URL(`${this.base}/api/v1${path}`);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: {
          accept: 'application/json',
          ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(this.opts.apiKey === undefined || this.opts.apiKey === ''
            ? {}
            : { authorization: `Bearer ${this.opts.apiKey}` }),
          ...opts.headers,
        },
        ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
      });
    } catch (err) {
      throw new ApiUnreachableError(this.base, networkReason(err));
    }
    const text = await res.text();
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      if (!res.ok)
        throw new ApiProblemError({
          type: 'about:blank',
          title: res.statusText,
          status: res.status,
          detail: `HTTP ${res.status} from ${url.origin} (not a Sundial problem document)`,
        });
      throw new ApiResponseError(
        `${method} ${url.pathname}: HTTP ${res.status} with a body that is not JSON: is ${this.base} a Sundial API?`,
      );
    }
    if (!res.ok) {
      const problem = problemSchema.safeParse(body);
      throw new ApiProblemError(
        problem.success
          ? problem.data
          : {
              type: 'about:blank',
              title: res.statusText,
              status: res.status,
              detail: `HTTP ${res.status} from ${url.origin}`,
            },
      );
    }
    if (schema === undefined || res.status === 204) return body as z.input<S>;
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ApiResponseError(
        `${method} ${url.pathname}: unexpected answer (${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}): is ${this.base} a Sundial API of this version?`,
      );
    }
    // Checked, but handed on as sent: parsing would fill in the spec's defaults, and `--output
    // json` prints what the API answered.
    return body as z.input<S>;
  }
}
