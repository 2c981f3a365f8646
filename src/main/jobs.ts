import type { Config } from '../config/env';
import { exampleJobs } from '../jobs/examples';
import { loadJobsModule } from '../jobs/load';
import { JobRegistry } from '../jobs/registry';

/**
 * The process's jobs: the user's module when configured, else the shipped examples. The user's
 * literal URLs are checked against the egress policy here; the examples' call to Sundial's own
 * API is not (a worker whose policy refuses it fails that job's runs with EgressDenied).
 */
export function buildRegistry(config: Config, apiUrl: string): JobRegistry {
  const notify = config.notifyDefaults === undefined ? {} : { notifyDefaults: config.notifyDefaults };
  if (config.jobsModule === undefined) return JobRegistry.create(exampleJobs(apiUrl), notify);
  return JobRegistry.create(loadJobsModule(config.jobsModule, { apiUrl }), { egress: config.egress, ...notify });
}

/** The API URL jobs may call; known before the API listens unless the port is 0. */
export function configuredApiUrl(config: Config): string {
  if (config.api.url !== undefined) return config.api.url;
  const host = config.api.host === '0.0.0.0' || config.api.host === '::' ? '127.0.0.1' : config.api.host;
  return `http://${host}:${config.api.port}`;
}
