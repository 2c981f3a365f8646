import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request as the test's dependency saw it. */
export interface SeenRequest {
  readonly at: number;
  readonly idempotencyKey: string | undefined;
  readonly attempt: number;
  readonly userAgent: string;
  /** The pid in Sundial's User-Agent, `sundial (worker <pid>@<host>)`. */
  readonly workerPid: number | undefined;
}

/**
 * A local HTTP server standing in for a job's dependency. `respond` decides per request; it may
 * never answer, to keep an attempt in flight.
 */
export async function startDependency(
  respond: (req: IncomingMessage, res: ServerResponse, seen: SeenRequest) => void,
): Promise<{
  url: string;
  seen: SeenRequest[];
  close(): Promise<void>;
}> {
  const seen: SeenRequest[] = [];
  const server: Server = createServer((req, res) => {
    const ua = req.headers['user-agent'] ?? '';
    const pid = /worker (\d+)@/.exec(ua)?.[1];
    const entry: SeenRequest = {
      at: Date.now(),
      idempotencyKey: req.headers['idempotency-key'] as string | undefined,
      attempt: Number(req.headers['sundial-attempt'] ?? 0),
      userAgent: ua,
      workerPid: pid === undefined ? undefined : Number(pid),
    };
    seen.push(entry);
    respond(req, res, entry);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/**
 * A dependency that answers each path with the statuses scripted for it, in order (the last one
 * repeats; an unscripted path answers 200), as JSON `{ status }`. The script may change later.
 */
export function startScriptedDependency(script: Map<string, number[]>): ReturnType<typeof startDependency> {
  return startDependency((req, res) => {
    const statuses = script.get(req.url ?? '') ?? [200];
    const status = statuses.length > 1 ? statuses.shift()! : statuses[0]!;
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ status }));
  });
}
