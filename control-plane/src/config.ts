import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { zodSummary } from '@meshchain/protocol';
import { ConfigError } from './errors.ts';

const port = z.coerce.number().int().min(0).max(65_535);

export const controlPlaneConfigSchema = z.object({
  version: z.literal(1).default(1),
  dataDir: z.string().min(1).default('.data/control-plane'),
  /** Address the API and the embedded broker listen on. */
  host: z.string().default('127.0.0.1'),
  apiPort: port.default(8080),
  mqttPort: port.default(1883),
  /** URL nodes use to reach the API (model downloads); defaults to http://host:apiPort. */
  publicApiUrl: z.string().url().nullable().default(null),
  /** URL nodes use to reach the broker; defaults to mqtt://host:mqttPort. */
  publicMqttUrl: z.string().url().nullable().default(null),
  /** An external broker instead of the embedded one (it must trust this control plane's id). */
  brokerUrl: z.string().url().nullable().default(null),
  enrollment: z.enum(['open', 'allowlist']).default('open'),
  allowlist: z.array(z.string()).default([]),
  /** When set, API requests need `Authorization: Bearer <token>`. */
  apiToken: z.string().min(16).nullable().default(null),
  lease: z
    .object({ baseMs: z.coerce.number().int().positive().default(30_000), perTokenMs: z.coerce.number().nonnegative().default(250) })
    .default({ baseMs: 30_000, perTokenMs: 250 }),
  retry: z
    .object({
      delayMs: z.coerce.number().int().nonnegative().default(1_000),
      factor: z.coerce.number().min(1).default(2),
      jitter: z.coerce.number().min(0).max(1).default(0.2),
      maxAttempts: z.coerce.number().int().min(1).default(5),
    })
    .default({ delayMs: 1_000, factor: 2, jitter: 0.2, maxAttempts: 5 }),
  /** Largest accepted clock difference on event messages. */
  maxSkewMs: z.coerce.number().int().positive().default(10 * 60_000),
  tickMs: z.coerce.number().int().positive().default(1_000),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'silent']).default('info'),
});

export type ControlPlaneConfig = z.infer<typeof controlPlaneConfigSchema>;
export type ControlPlaneConfigInput = z.input<typeof controlPlaneConfigSchema>;

/** `MESHCHAIN_*` variables and the config keys they set. */
const ENV: Record<string, (value: string) => Partial<Record<keyof ControlPlaneConfig, unknown>>> = {
  MESHCHAIN_DATA_DIR: (v) => ({ dataDir: v }),
  MESHCHAIN_HOST: (v) => ({ host: v }),
  MESHCHAIN_API_PORT: (v) => ({ apiPort: v }),
  MESHCHAIN_MQTT_PORT: (v) => ({ mqttPort: v }),
  MESHCHAIN_PUBLIC_API_URL: (v) => ({ publicApiUrl: v }),
  MESHCHAIN_PUBLIC_MQTT_URL: (v) => ({ publicMqttUrl: v }),
  MESHCHAIN_BROKER_URL: (v) => ({ brokerUrl: v }),
  MESHCHAIN_ENROLLMENT: (v) => ({ enrollment: v }),
  MESHCHAIN_ALLOWLIST: (v) => ({ allowlist: v.split(',').map((s) => s.trim()).filter(Boolean) }),
  MESHCHAIN_API_TOKEN: (v) => ({ apiToken: v }),
  MESHCHAIN_LOG_LEVEL: (v) => ({ logLevel: v }),
};

/**
 * Config from (lowest to highest precedence) defaults, a JSON file,
 * `MESHCHAIN_*` environment variables, and explicit overrides (CLI flags).
 */
export function loadControlPlaneConfig(
  options: { file?: string; env?: NodeJS.ProcessEnv; overrides?: ControlPlaneConfigInput } = {},
): ControlPlaneConfig {
  let fromFile: Record<string, unknown> = {};
  if (options.file) {
    try {
      fromFile = JSON.parse(readFileSync(options.file, 'utf8')) as Record<string, unknown>;
    } catch (cause) {
      throw new ConfigError(`cannot read config file ${options.file}`, { cause, details: String(cause) });
    }
  }
  const fromEnv: Record<string, unknown> = {};
  for (const [name, apply] of Object.entries(ENV)) {
    const value = options.env?.[name];
    if (value !== undefined && value !== '') Object.assign(fromEnv, apply(value));
  }
  const merged = { ...fromFile, ...fromEnv, ...stripUndefined(options.overrides ?? {}) };
  const parsed = controlPlaneConfigSchema.safeParse(merged);
  if (!parsed.success) {
    throw new ConfigError('invalid control-plane configuration', { details: zodSummary(parsed.error) });
  }
  return { ...parsed.data, dataDir: resolve(parsed.data.dataDir) };
}

function stripUndefined(value: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));
}
