/** The Temporal server did not answer within the connect timeout. */
export class TemporalUnavailableError extends Error {
  override readonly name = 'TemporalUnavailableError';
  constructor(
    readonly address: string,
    readonly timeoutMs: number,
    options?: { cause?: unknown },
  ) {
    const why = options?.cause instanceof Error ? `: ${options.cause.message}` : '';
    super(
      `Temporal at ${address} did not answer within ${timeoutMs} ms${why}. Is the server running and TEMPORAL_ADDRESS right?`,
      options,
    );
  }
}

/** Neither a Temporal CLI nor a Go toolchain to build one was found. */
export class TemporalCliUnavailableError extends Error {
  override readonly name = 'TemporalCliUnavailableError';
}

/** The embedded dev server exited or never became ready. */
export class DevServerError extends Error {
  override readonly name = 'DevServerError';
}
