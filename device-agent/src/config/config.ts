import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { CONTROL_PLANE_ID_PATTERN, zodSummary } from '@meshchain/protocol';
import { ConfigError } from '../errors.ts';

export const agentConfigSchema = z.object({
  version: z.literal(1).default(1),
  /** Identity, databases and models live here (the data partition on a box). */
  dataDir: z.string().min(1).default('/var/lib/meshnode'),
  /** Broker URL, e.g. mqtt://control.example:1883. */
  mqttUrl: z.string().url(),
  /** The control plane whose signed assignments this node accepts. */
  controlPlaneId: z.string().regex(CONTROL_PLANE_ID_PATTERN, 'not a control-plane id (cp…)'),
  /** Model cache budget; least recently used models are evicted past it. */
  modelCacheBytes: z.coerce.number().int().positive().default(8 * 1024 ** 3),
  /** CPU threads for inference. */
  threads: z.coerce.number().int().min(1).max(256).default(1),
  gpu: z.enum(['off', 'auto']).default('off'),
  /** On SIGTERM, how long a running shard may take to finish before it is handed back. */
  shutdownGraceMs: z.coerce.number().int().nonnegative().default(20_000),
  /** How long to wait for an ack before re-sending an outbox entry. */
  ackTimeoutMs: z.coerce.number().int().positive().default(30_000),
  /** While a shard runs, progress (which extends its lease) is sent this often. */
  progressIntervalMs: z.coerce.number().int().min(100).default(5_000),
  /** Largest accepted clock difference on assignments and acks. */
  maxSkewMs: z.coerce.number().int().positive().default(10 * 60_000),
  roles: z.array(z.enum(['worker', 'validator'])).min(1).default(['worker']),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info'),
  /** The status LED: a Linux LED class device (Raspberry Pi, Jetson), a GPIO pin, or none (simulated, shown on the page). */
  led: z
    .object({
      backend: z.enum(['simulated', 'sysfs', 'gpio']).default('simulated'),
      /** sysfs: the name under /sys/class/leds, e.g. ACT on a Raspberry Pi. */
      sysfsName: z.string().min(1).nullable().default(null),
      sysfsRoot: z.string().min(1).nullable().default(null),
      /** gpio: the pin number as the kernel numbers it. */
      gpioPin: z.coerce.number().int().nonnegative().nullable().default(null),
      activeLow: z.coerce.boolean().default(false),
    })
    .default({ backend: 'simulated', sysfsName: null, sysfsRoot: null, gpioPin: null, activeLow: false }),
  /** The local web page for the owner. */
  web: z
    .object({
      enabled: z.preprocess((v) => (v === 'false' || v === '0' ? false : v), z.coerce.boolean()).default(true),
      host: z.string().default('0.0.0.0'),
      port: z.coerce.number().int().min(0).max(65_535).default(8080),
      /** A preset device password (else the owner sets one on first visit). */
      password: z.string().min(10).nullable().default(null),
      allowedHosts: z.array(z.string()).default([]),
      /** Live events on the page: at most one per this many ms, however often the state changes. */
      eventIntervalMs: z.coerce.number().int().min(0).max(60_000).default(250),
    })
    .default({ enabled: true, host: '0.0.0.0', port: 8080, password: null, allowedHosts: [], eventIntervalMs: 250 }),
  telemetry: z
    .object({
      intervalMs: z.coerce.number().int().min(1_000).default(10_000),
      /** Overheating at or above hotC, cool again at or below coolC. */
      hotC: z.coerce.number().default(80),
      coolC: z.coerce.number().default(70),
    })
    .default({ intervalMs: 10_000, hotC: 80, coolC: 70 }),
});

export type AgentConfig = z.infer<typeof agentConfigSchema>;
export type AgentConfigInput = z.input<typeof agentConfigSchema>;
/** Overrides (CLI flags, tests): any key, nested sections partially. */
export type AgentConfigOverrides = { [K in keyof AgentConfigInput]?: AgentConfigInput[K] extends object | undefined ? Partial<NonNullable<AgentConfigInput[K]>> | AgentConfigInput[K] : AgentConfigInput[K] };

/** `MESHNODE_*` variables and the config key (a dotted path for nested ones) each sets. */
const ENV: Record<string, string> = {
  MESHNODE_DATA_DIR: 'dataDir',
  MESHNODE_MQTT_URL: 'mqttUrl',
  MESHNODE_CONTROL_PLANE_ID: 'controlPlaneId',
  MESHNODE_MODEL_CACHE_BYTES: 'modelCacheBytes',
  MESHNODE_THREADS: 'threads',
  MESHNODE_GPU: 'gpu',
  MESHNODE_SHUTDOWN_GRACE_MS: 'shutdownGraceMs',
  MESHNODE_ACK_TIMEOUT_MS: 'ackTimeoutMs',
  MESHNODE_PROGRESS_INTERVAL_MS: 'progressIntervalMs',
  MESHNODE_LOG_LEVEL: 'logLevel',
  MESHNODE_LED_BACKEND: 'led.backend',
  MESHNODE_LED_SYSFS_NAME: 'led.sysfsName',
  MESHNODE_LED_GPIO_PIN: 'led.gpioPin',
  MESHNODE_WEB_ENABLED: 'web.enabled',
  MESHNODE_WEB_HOST: 'web.host',
  MESHNODE_WEB_PORT: 'web.port',
  MESHNODE_WEB_PASSWORD: 'web.password',
  MESHNODE_WEB_EVENT_INTERVAL_MS: 'web.eventIntervalMs',
  MESHNODE_TELEMETRY_INTERVAL_MS: 'telemetry.intervalMs',
};

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const [head = '', ...rest] = path.split('.');
  if (rest.length === 0) {
    target[head] = value;
    return;
  }
  const child = (typeof target[head] === 'object' && target[head] !== null ? { ...(target[head] as object) } : {}) as Record<string, unknown>;
  setPath(child, rest.join('.'), value);
  target[head] = child;
}

function mergeDeep(base: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    const current = out[key];
    out[key] =
      value && typeof value === 'object' && !Array.isArray(value) && current && typeof current === 'object' && !Array.isArray(current)
        ? mergeDeep(current as Record<string, unknown>, value as Record<string, unknown>)
        : value;
  }
  return out;
}

/** Where the config file is looked for when none is named. */
export function defaultConfigPath(env: NodeJS.ProcessEnv): string {
  return env.MESHNODE_CONFIG ?? join(env.MESHNODE_DATA_DIR ?? '/var/lib/meshnode', 'config.json');
}

/**
 * Config from (lowest to highest) defaults, the JSON config file,
 * `MESHNODE_*` environment variables and explicit overrides. A missing
 * default config file is fine; a named one that cannot be read is an error.
 */
export function loadAgentConfig(options: { file?: string; env?: NodeJS.ProcessEnv; overrides?: AgentConfigOverrides } = {}): AgentConfig {
  const env = options.env ?? {};
  const dataDir = options.overrides?.dataDir;
  const path = options.file ?? (dataDir && !env.MESHNODE_CONFIG ? join(dataDir, 'config.json') : defaultConfigPath(env));
  let fromFile: Record<string, unknown> = {};
  try {
    fromFile = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    if (!missing || options.file) throw new ConfigError(`cannot read config file ${path}`, { cause: error, details: String(error) });
  }
  const fromEnv: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(ENV)) {
    const value = env[name];
    if (value !== undefined && value !== '') setPath(fromEnv, key, value);
  }
  const merged = mergeDeep(mergeDeep(fromFile, fromEnv), (options.overrides ?? {}) as Record<string, unknown>);
  const parsed = agentConfigSchema.safeParse(merged);
  if (!parsed.success) {
    throw new ConfigError('invalid meshnode configuration', {
      details: `${zodSummary(parsed.error)}. Set it in ${path} or with MESHNODE_* variables (MESHNODE_MQTT_URL, MESHNODE_CONTROL_PLANE_ID, …)`,
    });
  }
  return { ...parsed.data, dataDir: resolve(parsed.data.dataDir) };
}
