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
  /** Largest accepted clock difference on assignments and acks. */
  maxSkewMs: z.coerce.number().int().positive().default(10 * 60_000),
  roles: z.array(z.enum(['worker', 'validator'])).min(1).default(['worker']),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info'),
});

export type AgentConfig = z.infer<typeof agentConfigSchema>;
export type AgentConfigInput = z.input<typeof agentConfigSchema>;

const ENV: Record<string, keyof AgentConfig> = {
  MESHNODE_DATA_DIR: 'dataDir',
  MESHNODE_MQTT_URL: 'mqttUrl',
  MESHNODE_CONTROL_PLANE_ID: 'controlPlaneId',
  MESHNODE_MODEL_CACHE_BYTES: 'modelCacheBytes',
  MESHNODE_THREADS: 'threads',
  MESHNODE_GPU: 'gpu',
  MESHNODE_SHUTDOWN_GRACE_MS: 'shutdownGraceMs',
  MESHNODE_ACK_TIMEOUT_MS: 'ackTimeoutMs',
  MESHNODE_LOG_LEVEL: 'logLevel',
};

/** Where the config file is looked for when none is named. */
export function defaultConfigPath(env: NodeJS.ProcessEnv): string {
  return env.MESHNODE_CONFIG ?? join(env.MESHNODE_DATA_DIR ?? '/var/lib/meshnode', 'config.json');
}

/**
 * Config from (lowest to highest) defaults, the JSON config file,
 * `MESHNODE_*` environment variables and explicit overrides. A missing
 * default config file is fine; a named one that cannot be read is an error.
 */
export function loadAgentConfig(options: { file?: string; env?: NodeJS.ProcessEnv; overrides?: Partial<AgentConfigInput> } = {}): AgentConfig {
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
    if (value !== undefined && value !== '') fromEnv[key] = value;
  }
  const overrides = Object.fromEntries(Object.entries(options.overrides ?? {}).filter(([, v]) => v !== undefined));
  const parsed = agentConfigSchema.safeParse({ ...fromFile, ...fromEnv, ...overrides });
  if (!parsed.success) {
    throw new ConfigError('invalid meshnode configuration', {
      details: `${zodSummary(parsed.error)}. Set it in ${path} or with MESHNODE_* variables (MESHNODE_MQTT_URL, MESHNODE_CONTROL_PLANE_ID, …)`,
    });
  }
  return { ...parsed.data, dataDir: resolve(parsed.data.dataDir) };
}
