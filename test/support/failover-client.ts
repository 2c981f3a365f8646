/** Tries per request, going round the replicas. */
const MAX_TRIES = 6;

/** Error codes that mean "this replica is gone", not "the request was wrong". */
const CONNECTION_LOST = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'ECONNABORTED',
]);

function connectionLost(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e !== undefined && e !== null; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_LOST.has(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

/** One request as the client saw it. */
export interface ClientCall {
  readonly method: string;
  readonly path: string;
  /** Which replica answered (index into the URLs), or undefined if none did. */
  readonly answeredBy: number | undefined;
  /**
   * Connection failures before the answer, e.g. `0:ECONNRESET`. A reset means the request may
   * have taken effect on the dead replica; a refusal means it never got there.
   */
  readonly failures: string[];
  readonly status: number | undefined;
  readonly headers: Headers | undefined;
  readonly body: unknown;
}

/**
 * The test's own client for several API replicas: each request goes to the next replica in turn,
 * and when a replica's connection is refused or reset, or it answers 503 (Temporal too slow:
 * "retry later"), it is sent again to the replica after it (six tries in all). It retries every
 * method: what a retried write does is what the test checks.
 */
export class FailoverClient {
  private next = 0;
  readonly calls: ClientCall[] = [];

  constructor(
    private readonly urls: readonly string[],
    private readonly opts: { timeoutMs?: number } = {},
  ) {}

  async request(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ClientCall> {
    const failures: string[] = [];
    const first = this.next++ % this.urls.length;
    for (let attempt = 0; attempt < MAX_TRIES; attempt++) {
      const replica = (first + attempt) % this.urls.length;
      try {
        const res = await fetch(`${this.urls[replica]}${path}`, {
          method,
          headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
        });
        const text = await res.text();
        let parsed: unknown = text;
        try {
          parsed = text === '' ? undefined : JSON.parse(text);
        } catch {
          /* not JSON */
        }
        if (res.status === 503 && attempt < MAX_TRIES - 1) {
          // Temporal did not answer in time: the API says "retry later", and the write may or
          // may not have happened, like a reset.
          failures.push(`${replica}:503`);
          await new Promise((r) => setTimeout(r, 1_000));
          continue;
        }
        const call: ClientCall = {
          method,
          path,
          answeredBy: replica,
          failures,
          status: res.status,
          headers: res.headers,
          body: parsed,
        };
        this.calls.push(call);
        return call;
      } catch (err) {
        const code = connectionLost(err);
        if (code === undefined) throw err;
        failures.push(`${replica}:${code}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const call: ClientCall = {
      method,
      path,
      answeredBy: undefined,
      failures,
      status: undefined,
      headers: undefined,
      body: undefined,
    };
    this.calls.push(call);
    return call;
  }
}
