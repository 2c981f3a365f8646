import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { AllowListError, parseAllowList, type EgressPolicy } from '../egress/policy';
import { notifySchema, type NotifyRules } from '../notify/schema';
import { issuesToProblems } from '../jobs/spec';
import { parseDuration } from '../util/duration';
import { SECRET_ENV_PREFIX, SECRET_NAME_PATTERN } from '../secrets/reference';
import { CODEC_KEY_BYTES, type CodecKey } from '../temporal/codec';

/**
 * Thrown when the environment holds a value Sundial cannot use. The message names the
 * variable; the value itself is never echoed, because some variables hold secrets.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly variable: string,
    readonly problem: string,
  ) {
    super(`${variable}: ${problem}`);
  }
}

const port = z.coerce
  .number({ message: 'must be a port number' })
  .int('must be an integer')
  .min(0, 'must be between 0 and 65535')
  .max(65535, 'must be between 0 and 65535');

const nonEmpty = z.string().trim().min(1, 'must not be empty');

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const duration = z.string().transform((value, ctx) => {
  try {
    return parseDuration(value);
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message });
    return z.NEVER;
  }
});

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** How log lines are written: `pretty` for a person at a terminal, `json` lines for machines. */
export const LOG_FORMATS = ['pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * The deadline all Temporal calls of one API request share, unless configured
 * (SUNDIAL_API_TEMPORAL_TIMEOUT). Longer than the 5 s a schedule's describe can wait on the
 * server's internal worker before the server answers it another way: at 5 s such reads were 503s
 * (1-3 in 100-300 during a list load); given 15 s they answered in 5.1 s (bench/README.md, "Scale").
 */
export const DEFAULT_API_TEMPORAL_TIMEOUT_MS = 10_000;

/**
 * How many workflows a worker keeps cached, unless configured (SUNDIAL_WORKFLOW_CACHE). The SDK's
 * own default grows with the heap limit (about 2,300 on a machine with 16 GiB or more), and
 * long-lived entities (a job's audit once it has been changed over the API, breakers) idle in the
 * cache between signals: at ~0.4 MiB each, 2,000 audit entities took a worker from 160 MiB to
 * 870 MiB (bench/README.md, "Scale"). A workflow evicted from the cache replays its history on
 * its next task: short for runs, at most ~1,000 events for an entity.
 */
export const DEFAULT_WORKFLOW_CACHE = 500;

/** The environment variables Sundial reads, with their defaults. docs/configuration.md documents each one. */
const envSchema = z.object({
  // A comma list names several frontends of one cluster: see src/temporal/frontend-failover.ts.
  TEMPORAL_ADDRESS: nonEmpty
    .transform((v) => v.split(',').map((a) => a.trim()))
    .refine(
      (list) => list.every((a) => /^[^\s:/,]+:\d{1,5}$/.test(a)),
      'must be host:port, or several separated by commas, e.g. temporal.example.com:7233',
    )
    .refine((list) => new Set(list).size === list.length, 'lists the same host:port twice')
    .optional(),
  TEMPORAL_NAMESPACE: nonEmpty.default('default'),
  TEMPORAL_TASK_QUEUE: nonEmpty.default('sundial'),
  TEMPORAL_TLS: bool.optional(),
  TEMPORAL_TLS_CERT_FILE: nonEmpty.optional(),
  TEMPORAL_TLS_KEY_FILE: nonEmpty.optional(),
  TEMPORAL_TLS_CA_FILE: nonEmpty.optional(),
  TEMPORAL_TLS_SERVER_NAME: nonEmpty.optional(),
  TEMPORAL_API_KEY: nonEmpty.optional(),
  TEMPORAL_CONNECT_TIMEOUT: duration.default(10_000),
  TEMPORAL_UI_URL: z.url({ message: 'must be an absolute URL' }).optional(),
  SUNDIAL_API_URL: z.url({ message: 'must be an absolute URL' }).optional(),
  HOST: nonEmpty.default('127.0.0.1'),
  PORT: port.default(8080),
  SUNDIAL_DATA_DIR: nonEmpty.default('.sundial'),
  SUNDIAL_TEMPORAL_PORT: port.default(7233),
  SUNDIAL_TEMPORAL_UI_PORT: port.default(8233),
  SUNDIAL_JOBS_MODULE: nonEmpty.optional(),
  SUNDIAL_WORKFLOWS_MODULE: nonEmpty.optional(),
  SUNDIAL_PRUNE_ORPHANS: bool.default(false),
  SUNDIAL_SHUTDOWN_GRACE: duration.default(10_000),
  SUNDIAL_WORKFLOW_CACHE: z.coerce
    .number({ message: 'must be a number of workflows' })
    .int('must be an integer')
    .min(2, 'must be between 2 and 100000')
    .max(100_000, 'must be between 2 and 100000')
    .default(DEFAULT_WORKFLOW_CACHE),
  SUNDIAL_API_TEMPORAL_TIMEOUT: duration
    .refine((v) => v >= 500 && v <= 120_000, 'must be between 500ms and 2m')
    .default(DEFAULT_API_TEMPORAL_TIMEOUT_MS),
  SUNDIAL_API_KEYS: z.string().optional(),
  SUNDIAL_API_KEYS_FILE: nonEmpty.optional(),
  SUNDIAL_METRICS_PORT: port.optional(),
  SUNDIAL_HTTP_ALLOW: z.string().optional(),
  SUNDIAL_METRICS_INTERVAL: duration
    .refine((v) => v >= 1_000 && v <= 3_600_000, 'must be between 1s and 1h')
    .default(15_000),
  SUNDIAL_SDK_METRICS_ADDRESS: nonEmpty
    .regex(/^(off|[^\s/]+:\d{1,5})$/, 'must be host:port (e.g. 0.0.0.0:9464) or off')
    .optional(),
  SUNDIAL_CODEC_KEYS: z.string().optional(),
  SUNDIAL_CODEC_KEYS_FILE: nonEmpty.optional(),
  SUNDIAL_SECRETS_FILE: nonEmpty.optional(),
  SUNDIAL_NOTIFY_DEFAULTS: z.string().optional(),
  LOG_LEVEL: z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  // Unset: pretty when stdout is a terminal, JSON lines otherwise (src/observability/logger.ts).
  LOG_FORMAT: z.enum(LOG_FORMATS, { message: `must be one of ${LOG_FORMATS.join(', ')}` }).optional(),
});

type Env = z.output<typeof envSchema>;

/** Every environment variable Sundial's configuration reads (for deployment checks). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

/** How to reach Temporal: TLS is a union so "key without cert" cannot be represented. */
export type TemporalTls =
  | { readonly enabled: false }
  | {
      readonly enabled: true;
      readonly clientCertFile?: string;
      readonly clientKeyFile?: string;
      readonly caFile?: string;
      readonly serverName?: string;
    };

export interface TemporalConfig {
  /**
   * host:port of each frontend of an existing cluster, in order of preference (one for most
   * deployments); undefined means "start the embedded dev server".
   */
  readonly addresses: readonly string[] | undefined;
  readonly namespace: string;
  readonly taskQueue: string;
  readonly tls: TemporalTls;
  /** Temporal Cloud API key. Never logged. */
  readonly apiKey: string | undefined;
  /** How long to wait for the server before giving up, in ms. */
  readonly connectTimeoutMs: number;
  /** Base URL of the Temporal Web UI, for deep links. */
  readonly uiUrl: string | undefined;
  /**
   * Payload codec keys (SUNDIAL_CODEC_KEYS): the first encrypts, all decrypt. Undefined: payloads
   * are stored as the SDK writes them. Never logged.
   */
  readonly codecKeys: readonly CodecKey[] | undefined;
}

/** An API key and what it may do. The key itself is a secret: never log it. */
export interface ApiKey {
  readonly role: 'read' | 'write';
  readonly key: string;
}

const LOOPBACK = /^(127(\.\d{1,3}){3}|::1|localhost)$/;

/** Parses `role:key` entries separated by commas or newlines; errors name the variable, not the key. */
function parseApiKeys(text: string, variable: string): ApiKey[] {
  const keys: ApiKey[] = [];
  text.split(/[,\n]/).forEach((raw, i) => {
    const entry = raw.trim();
    if (entry === '' || entry.startsWith('#')) return;
    const colon = entry.indexOf(':');
    const role = colon < 0 ? '' : entry.slice(0, colon);
    const key = colon < 0 ? '' : entry.slice(colon + 1);
    if (role !== 'read' && role !== 'write')
      throw new ConfigError(variable, `entry ${i + 1} must be "read:<key>" or "write:<key>"`);
    if (key.length < 16) throw new ConfigError(variable, `entry ${i + 1}: a key must be at least 16 characters`);
    keys.push({ role, key });
  });
  return keys;
}

const CODEC_KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** Parses `keyId:base64key` entries separated by commas or newlines; errors name the entry, never the key. */
function parseCodecKeys(text: string, variable: string): CodecKey[] {
  const keys: CodecKey[] = [];
  text.split(/[,\n]/).forEach((raw, i) => {
    const entry = raw.trim();
    if (entry === '' || entry.startsWith('#')) return;
    const colon = entry.indexOf(':');
    const id = colon < 0 ? '' : entry.slice(0, colon);
    if (!CODEC_KEY_ID.test(id))
      throw new ConfigError(
        variable,
        `entry ${i + 1} must be "<keyId>:<base64 key>", the id 1-64 letters, digits, ".", "_" or "-"`,
      );
    const encoded = entry.slice(colon + 1);
    const key = Buffer.from(encoded, 'base64');
    if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(encoded) || key.length !== CODEC_KEY_BYTES) {
      throw new ConfigError(
        variable,
        `key ${JSON.stringify(id)} must be ${CODEC_KEY_BYTES} bytes in base64 (e.g. from \`openssl rand -base64 32\`)`,
      );
    }
    keys.push({ id, key });
  });
  if (keys.length === 0) throw new ConfigError(variable, 'lists no key');
  return keys;
}

/** SUNDIAL_CODEC_KEYS, then the keys of SUNDIAL_CODEC_KEYS_FILE; undefined when neither is set. */
function codecKeys(e: {
  SUNDIAL_CODEC_KEYS?: string | undefined;
  SUNDIAL_CODEC_KEYS_FILE?: string | undefined;
}): CodecKey[] | undefined {
  if (e.SUNDIAL_CODEC_KEYS === undefined && e.SUNDIAL_CODEC_KEYS_FILE === undefined) return undefined;
  const keys = e.SUNDIAL_CODEC_KEYS === undefined ? [] : parseCodecKeys(e.SUNDIAL_CODEC_KEYS, 'SUNDIAL_CODEC_KEYS');
  if (e.SUNDIAL_CODEC_KEYS_FILE !== undefined) {
    let text: string;
    try {
      text = readFileSync(e.SUNDIAL_CODEC_KEYS_FILE, 'utf8');
    } catch (err) {
      throw new ConfigError(
        'SUNDIAL_CODEC_KEYS_FILE',
        `cannot read the file: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
    keys.push(...parseCodecKeys(text, 'SUNDIAL_CODEC_KEYS_FILE'));
  }
  const ids = keys.map((k) => k.id);
  const twice = ids.find((id, i) => ids.indexOf(id) !== i);
  if (twice !== undefined)
    throw new ConfigError('SUNDIAL_CODEC_KEYS', `key id ${JSON.stringify(twice)} is listed twice`);
  return keys;
}

/**
 * SUNDIAL_NOTIFY_DEFAULTS: a JSON array of notification rules, as a job's `notify` field. The
 * error names the rule's field; the text is not echoed (a rule may hold a URL with a token).
 */
function parseNotifyDefaults(text: string | undefined): NotifyRules | undefined {
  if (text === undefined) return undefined;
  const variable = 'SUNDIAL_NOTIFY_DEFAULTS';
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new ConfigError(
      variable,
      'must be a JSON array of rules, e.g. [{"on":["failed"],"to":{"type":"slack","webhookUrl":{"secret":"SLACK_WEBHOOK"}}}]',
    );
  }
  const parsed = notifySchema.safeParse(json);
  if (!parsed.success) {
    const p = issuesToProblems(parsed.error.issues)[0]!;
    throw new ConfigError(variable, `${p.path === '(root)' ? '' : `${p.path}: `}${p.message}`);
  }
  return parsed.data.length === 0 ? undefined : parsed.data;
}

/**
 * The secrets a worker can resolve: SUNDIAL_SECRETS_FILE (a JSON object of names to strings),
 * then every SUNDIAL_SECRET_<NAME> variable, which wins over the file. Errors name the variable
 * and the secret's name, never a value.
 */
function loadSecrets(env: Record<string, string>, file: string | undefined): ReadonlyMap<string, string> {
  const secrets = new Map<string, string>();
  if (file !== undefined) {
    const variable = 'SUNDIAL_SECRETS_FILE';
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new ConfigError(
        variable,
        code !== undefined
          ? `cannot read the file: ${code}`
          : 'the file is not JSON (it must be an object of secret names to strings)',
      );
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed))
      throw new ConfigError(variable, 'the file must hold a JSON object of secret names to strings');
    for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
      if (!SECRET_NAME_PATTERN.test(name))
        throw new ConfigError(
          variable,
          `${JSON.stringify(name)} is not a secret name (upper-case letters, digits and _)`,
        );
      if (typeof value !== 'string') throw new ConfigError(variable, `the value of ${name} must be a string`);
      secrets.set(name, value);
    }
  }
  for (const [variable, value] of Object.entries(env)) {
    if (!variable.startsWith(SECRET_ENV_PREFIX)) continue;
    const name = variable.slice(SECRET_ENV_PREFIX.length);
    if (!SECRET_NAME_PATTERN.test(name))
      throw new ConfigError(
        variable,
        `${JSON.stringify(name)} is not a secret name (upper-case letters, digits and _)`,
      );
    secrets.set(name, value);
  }
  return secrets;
}

export interface Config {
  readonly temporal: TemporalConfig;
  /**
   * Values of secret references, by name (SUNDIAL_SECRET_<NAME>, SUNDIAL_SECRETS_FILE). Read
   * by the worker's activities only; never logged.
   */
  readonly secrets: ReadonlyMap<string, string>;
  /** `url`: how workers and links reach the API; undefined means http://host:port. */
  /**
   * `temporalTimeoutMs`: the deadline every Temporal call of one API request shares
   * (SUNDIAL_API_TEMPORAL_TIMEOUT): past it the request is a 503, never a hang.
   */
  readonly api: {
    readonly host: string;
    readonly port: number;
    readonly url?: string;
    readonly keys: readonly ApiKey[];
    readonly temporalTimeoutMs: number;
  };
  readonly embedded: { readonly dataDir: string; readonly temporalPort: number; readonly uiPort: number };
  /** The user's jobs module (SUNDIAL_JOBS_MODULE, `.js` or `.ts`); undefined: the shipped examples. */
  readonly jobsModule: string | undefined;
  /**
   * The user's workflows module for multi-step jobs (SUNDIAL_WORKFLOWS_MODULE), bundled with
   * Sundial's own workflows by every worker; undefined: Sundial's workflows only.
   */
  readonly workflowsModule: string | undefined;
  readonly pruneOrphans: boolean;
  /** How long running activities may take to finish on shutdown before they are cancelled, in ms. */
  readonly shutdownGraceMs: number;
  /** Workers: how many workflows each keeps cached (SUNDIAL_WORKFLOW_CACHE); see src/worker/worker.ts. */
  readonly workflowCacheSize: number;
  readonly logLevel: (typeof LOG_LEVELS)[number];
  /** `LOG_FORMAT`; undefined: pretty when stdout is a terminal, else JSON lines. */
  readonly logFormat: LogFormat | undefined;
  /**
   * Where HTTP jobs may connect beyond public addresses (`SUNDIAL_HTTP_ALLOW`); link-local and
   * cloud metadata addresses never. The embedded default adds loopback.
   */
  readonly egress: EgressPolicy;
  /** Notification rules of every job without its own `notify` (SUNDIAL_NOTIFY_DEFAULTS); undefined: none. */
  readonly notifyDefaults: NotifyRules | undefined;
  readonly metrics: {
    /** Port of a worker process's own `/metrics`; undefined means none (the API serves its own). */
    readonly port: number | undefined;
    /**
     * host:port of the Temporal SDK's Prometheus exporter; 'off' disables it, undefined leaves
     * the choice to the entry point (the embedded default serves it, a worker does not).
     */
    readonly sdkAddress: string | undefined;
    /** How long the API's job-metrics collector waits between two reads of Temporal, in ms. */
    readonly collectorIntervalMs: number;
  };
}

/** Where the embedded default serves the Temporal SDK's metrics unless told otherwise. */
export const EMBEDDED_SDK_METRICS_ADDRESS = '127.0.0.1:9464';

/** The SDK metrics address to use: the configured one, `fallback` when unset, none when 'off'. */
export function sdkMetricsAddress(config: Config, fallback?: string): string | undefined {
  const configured = config.metrics.sdkAddress;
  if (configured === 'off') return undefined;
  return configured ?? fallback;
}

/** What a process serves: only a process that serves the API is bound by the API-key rules. */
export type ProcessRole = 'api' | 'worker';

/**
 * Reads and validates the environment once. Throws {@link ConfigError} naming the first bad
 * variable; nothing else in Sundial reads `process.env`. `role` 'worker' (a process without the
 * API) skips the rule that an API without keys listens on loopback only.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, role: ProcessRole = 'api'): Config {
  // Empty strings count as unset: `FOO= npm start` should not be a validation error.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(String(issue.path[0] ?? 'environment'), issue.message);
  }
  const e: Env = parsed.data;
  if ((e.TEMPORAL_TLS_CERT_FILE === undefined) !== (e.TEMPORAL_TLS_KEY_FILE === undefined)) {
    const missing = e.TEMPORAL_TLS_CERT_FILE === undefined ? 'TEMPORAL_TLS_CERT_FILE' : 'TEMPORAL_TLS_KEY_FILE';
    throw new ConfigError(missing, 'a TLS client certificate and key must be given together');
  }
  const tlsWanted =
    e.TEMPORAL_TLS ??
    (e.TEMPORAL_TLS_CERT_FILE !== undefined ||
      e.TEMPORAL_TLS_CA_FILE !== undefined ||
      e.TEMPORAL_API_KEY !== undefined);
  if (tlsWanted && e.TEMPORAL_ADDRESS === undefined) {
    throw new ConfigError(
      'TEMPORAL_ADDRESS',
      'TLS or an API key needs an existing cluster; the embedded dev server is plain-text',
    );
  }
  let keys: ApiKey[] = [];
  if (e.SUNDIAL_API_KEYS !== undefined) keys = parseApiKeys(e.SUNDIAL_API_KEYS, 'SUNDIAL_API_KEYS');
  if (e.SUNDIAL_API_KEYS_FILE !== undefined) {
    let text: string;
    try {
      text = readFileSync(e.SUNDIAL_API_KEYS_FILE, 'utf8');
    } catch (err) {
      throw new ConfigError(
        'SUNDIAL_API_KEYS_FILE',
        `cannot read the file: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
    keys = [...keys, ...parseApiKeys(text, 'SUNDIAL_API_KEYS_FILE')];
  }
  let egress: EgressPolicy;
  try {
    egress = parseAllowList(e.SUNDIAL_HTTP_ALLOW);
  } catch (err) {
    if (err instanceof AllowListError) throw new ConfigError('SUNDIAL_HTTP_ALLOW', err.message);
    throw err;
  }
  if (role === 'api' && keys.length === 0 && !LOOPBACK.test(e.HOST)) {
    throw new ConfigError(
      'HOST',
      'an API without keys may listen on loopback only: set SUNDIAL_API_KEYS (or SUNDIAL_API_KEYS_FILE) to listen on another address',
    );
  }
  return {
    temporal: {
      addresses: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      taskQueue: e.TEMPORAL_TASK_QUEUE,
      tls: tlsWanted
        ? {
            enabled: true,
            clientCertFile: e.TEMPORAL_TLS_CERT_FILE,
            clientKeyFile: e.TEMPORAL_TLS_KEY_FILE,
            caFile: e.TEMPORAL_TLS_CA_FILE,
            serverName: e.TEMPORAL_TLS_SERVER_NAME,
          }
        : { enabled: false },
      apiKey: e.TEMPORAL_API_KEY,
      connectTimeoutMs: e.TEMPORAL_CONNECT_TIMEOUT,
      uiUrl: e.TEMPORAL_UI_URL,
      codecKeys: codecKeys(e),
    },
    secrets: loadSecrets(present as Record<string, string>, e.SUNDIAL_SECRETS_FILE),
    api: {
      host: e.HOST,
      port: e.PORT,
      keys,
      temporalTimeoutMs: e.SUNDIAL_API_TEMPORAL_TIMEOUT,
      ...(e.SUNDIAL_API_URL === undefined ? {} : { url: e.SUNDIAL_API_URL.replace(/\/+$/, '') }),
    },
    embedded: {
      dataDir: e.SUNDIAL_DATA_DIR,
      temporalPort: e.SUNDIAL_TEMPORAL_PORT,
      uiPort: e.SUNDIAL_TEMPORAL_UI_PORT,
    },
    jobsModule: e.SUNDIAL_JOBS_MODULE,
    workflowsModule: e.SUNDIAL_WORKFLOWS_MODULE,
    pruneOrphans: e.SUNDIAL_PRUNE_ORPHANS,
    shutdownGraceMs: e.SUNDIAL_SHUTDOWN_GRACE,
    workflowCacheSize: e.SUNDIAL_WORKFLOW_CACHE,
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    egress,
    notifyDefaults: parseNotifyDefaults(e.SUNDIAL_NOTIFY_DEFAULTS),
    metrics: {
      port: e.SUNDIAL_METRICS_PORT,
      sdkAddress: e.SUNDIAL_SDK_METRICS_ADDRESS,
      collectorIntervalMs: e.SUNDIAL_METRICS_INTERVAL,
    },
  };
}
