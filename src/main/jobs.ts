import type { Config } from '../config/env';
import { exampleJobs } from '../jobs/examples';
import { loadJobsModule } from '../jobs/load';
import { JobRegistry } from '../jobs/registry';

/** The process's jobs: the user's module when configured, else the shipped examples. */
export function buildRegistry(config: Config, apiUrl: string): JobRegistry {
  const defined = config.jobsModule === undefined ? exampleJobs(apiUrl) : loadJobsModule(config.jobsModule, { apiUrl });
  return JobRegistry.create(defined);
}

/** The API URL jobs may call; known before the API listens unless the port is 0. */
export function configuredApiUrl(config: Config): string {
  if (config.api.url !== undefined) return config.api.url;
  const host = config.api.host === '0.0.0.0' || config.api.host === '::' ? '127.0.0.1' : config.api.host;
  return `http://${host}:${config.api.port}`;
}
