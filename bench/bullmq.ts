/**
 * BullMQ on the local Redis, the reference the scale and burst benches measure Sundial against.
 * Every queue lives under its own key prefix and is obliterated afterwards; nothing else in
 * Redis is touched.
 */
import { randomUUID } from 'node:crypto';
import { Queue, Worker, type Processor } from 'bullmq';

/** BENCH_REDIS_URL, default redis://127.0.0.1:6379. */
export function redisConnection(): { host: string; port: number } {
  const url = new URL(process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379');
  return { host: url.hostname, port: Number(url.port || 6379) };
}

/** A queue of its own (`bench-<uuid>` key prefix) and, with a processor, a worker on it. */
export async function startBullmq(
  processor?: Processor,
  concurrency = 1,
): Promise<{ queue: Queue; version: string; stop(): Promise<void> }> {
  const connection = redisConnection();
  const prefix = `bench-${randomUUID()}`;
  const queue = new Queue('bench', { connection, prefix });
  await queue.waitUntilReady();
  const worker =
    processor === undefined ? undefined : new Worker('bench', processor, { connection, prefix, concurrency });
  await worker?.waitUntilReady();
  const version = (require('bullmq/package.json') as { version: string }).version;
  return {
    queue,
    version,
    async stop() {
      await worker?.close();
      await queue.obliterate({ force: true });
      await queue.close();
    },
  };
}
