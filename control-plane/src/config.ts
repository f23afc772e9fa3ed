import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { evmAddressSchema, zodSummary } from '@meshchain/protocol';
import { ConfigError } from './errors.ts';

const port = z.coerce.number().int().min(0).max(65_535);
const booleanish = z.union([z.boolean(), z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1')]);

export const controlPlaneConfigSchema = z.object({
  version: z.literal(1).default(1),
  dataDir: z.string().min(1).default('.data/control-plane'),
  /** Address the API and the embedded broker listen on. */
  host: z.string().default('127.0.0.1'),
  apiPort: port.default(8080),
  mqttPort: port.default(1883),
  /** URL nodes use to reach the API (model downloads); defaults to the address the API listens on, so set it when listening on 0.0.0.0. */
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
    .object({
      baseMs: z.coerce.number().int().positive().default(30_000),
      perTokenMs: z.coerce.number().nonnegative().default(250),
      /** Each progress report from the holder moves its deadline to at least now + extendMs… */
      extendMs: z.coerce.number().int().positive().default(30_000),
      /** …but a lease never lives longer than this from when it was issued. */
      maxAgeMs: z.coerce.number().int().positive().default(30 * 60_000),
      /** After a start, no lease is reclaimed for this long: nodes could not report progress while the control plane was down. */
      restartGraceMs: z.coerce.number().int().nonnegative().default(10_000),
    })
    .prefault({}),
  /** Which nodes may take work (see control-plane/README.md, "Scheduling"). */
  placement: z
    .object({
      /** Nodes with an older agent get no work; null: any version. */
      minAgentVersion: z.string().regex(/^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$/, 'not a semantic version').nullable().default(null),
      /** A node needs memory ≥ model size × memoryFactor. */
      memoryFactor: z.coerce.number().min(0).default(1.25),
    })
    .prefault({}),
  /** Speculative copies of straggling shards near the end of a job. */
  stragglers: z
    .object({
      enabled: booleanish.default(true),
      /** A shard straggles after factor × the median time of its job's finished shards… */
      factor: z.coerce.number().min(1).default(3),
      /** …and at least minRunMs… */
      minRunMs: z.coerce.number().int().nonnegative().default(10_000),
      /** …or, before any shard finished, after this fraction of its lease. */
      leaseFraction: z.coerce.number().min(0).max(1).default(0.5),
    })
    .prefault({}),
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
  /** The chain rewards settle on. No rpcUrl: a local anvil devnet is started (see src/rewards/README.md). */
  chain: z
    .object({
      /** false (`serve --no-chain`): no ledger, no epochs, no chain. */
      enabled: booleanish.default(true),
      /** Any EVM JSON-RPC endpoint; null starts anvil on 127.0.0.1 and deploys the contracts there. */
      rpcUrl: z.string().url().nullable().default(null),
      /** The batcher key (needs BATCHER_ROLE on the distributor); required with rpcUrl. */
      privateKey: z.string().regex(/^0x[0-9a-fA-F]{64}$/, 'not a 0x-prefixed 32-byte hex key').nullable().default(null),
      /** RewardDistributor address; null deploys the contracts once and records them in <dataDir>/chain/. */
      distributor: evmAddressSchema.nullable().default(null),
      receiptTimeoutMs: z.coerce.number().int().positive().default(120_000),
      pollingIntervalMs: z.coerce.number().int().positive().default(1_000),
    })
    .refine((c) => c.rpcUrl === null || c.privateKey !== null, {
      message: 'chain.rpcUrl needs chain.privateKey (MESHCHAIN_CHAIN_PRIVATE_KEY), the batcher key',
      path: ['privateKey'],
    })
    .prefault({}),
  rewards: z
    .object({
      /** An epoch closes this long after it opened (if it has anything to pay); `meshchain rewards close-epoch` closes it now. */
      epochMs: z.coerce.number().int().positive().default(3_600_000),
      /** MCP wei paid per compute unit (default 10^15 = 0.001 MCP). */
      weiPerUnit: z.string().regex(/^[0-9]{1,60}$/, 'a decimal integer').default('1000000000000000'),
      /** Compute units per token, per model sha256; models not listed count 1. */
      modelCostFactors: z.record(z.string().regex(/^[0-9a-f]{64}$/), z.number().int().positive()).default({}),
      /** Posting retries: capped exponential backoff with jitter, until the chain answers (see README). */
      retry: z
        .object({
          delayMs: z.coerce.number().int().positive().default(1_000),
          factor: z.coerce.number().min(1).default(2),
          jitter: z.coerce.number().min(0).max(1).default(0.2),
          maxDelayMs: z.coerce.number().int().positive().default(60_000),
        })
        .prefault({}),
    })
    .prefault({}),
  /** Spot-check recomputation of results (see control-plane/src/trust). */
  trust: z
    .object({
      enabled: z.preprocess((v) => (v === 'false' || v === '0' ? false : v), z.coerce.boolean()).default(true),
      /** Largest accepted gap between the model's best logit and the claimed token's (measured noise ≤ ~0.02). */
      tolerance: z.coerce.number().positive().default(0.05),
      /** Smallest accepted cosine similarity of a claimed embedding with the recomputed one (measured noise: none on CPU). */
      minCosine: z.coerce.number().min(-1).max(1).default(0.999),
      /** Hand sampled checks to online validator nodes of other owners; the control plane's own validator when none is free. */
      validatorNodes: z.preprocess((v) => (v === 'false' || v === '0' ? false : v), z.coerce.boolean()).default(true),
      /** How long a validator node has to answer a verification task before the control plane checks it itself. */
      verifyTimeoutMs: z.coerce.number().int().positive().default(120_000),
      threads: z.coerce.number().int().min(1).default(1),
      maxQueue: z.coerce.number().int().min(1).default(256),
      /** Every result of a node is checked until this many checks in a row pass. */
      probationPasses: z.coerce.number().int().nonnegative().default(10),
      startRate: z.coerce.number().min(0).max(1).default(0.5),
      decay: z.coerce.number().min(0).max(1).default(0.9),
      floor: z.coerce.number().min(0).max(1).default(0.05),
      quarantineAfter: z.coerce.number().int().min(1).default(2),
    })
    .prefault({}),
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
  MESHCHAIN_MIN_AGENT_VERSION: (v) => ({ placement: { minAgentVersion: v } }),
  MESHCHAIN_STRAGGLERS_ENABLED: (v) => ({ stragglers: { enabled: v } }),
  MESHCHAIN_TRUST_ENABLED: (v) => ({ trust: { enabled: v } }),
  MESHCHAIN_CHAIN_ENABLED: (v) => ({ chain: { enabled: v } }),
  MESHCHAIN_CHAIN_RPC_URL: (v) => ({ chain: { rpcUrl: v } }),
  MESHCHAIN_CHAIN_PRIVATE_KEY: (v) => ({ chain: { privateKey: v } }),
  MESHCHAIN_CHAIN_DISTRIBUTOR: (v) => ({ chain: { distributor: v } }),
  MESHCHAIN_REWARDS_EPOCH_MS: (v) => ({ rewards: { epochMs: v } }),
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
    if (value !== undefined && value !== '') mergeInto(fromEnv, apply(value));
  }
  const merged = mergeInto(mergeInto(mergeInto({}, fromFile), fromEnv), stripUndefined(options.overrides ?? {}));
  const parsed = controlPlaneConfigSchema.safeParse(merged);
  if (!parsed.success) {
    throw new ConfigError('invalid control-plane configuration', { details: zodSummary(parsed.error) });
  }
  return { ...parsed.data, dataDir: resolve(parsed.data.dataDir) };
}

/** Merges `source` into `target`, recursing into plain objects (so `chain.rpcUrl` from the environment keeps the file's `chain.privateKey`). */
function mergeInto(target: Record<string, unknown>, source: object): Record<string, unknown> {
  for (const [key, value] of Object.entries(source)) {
    if (value === undefined) continue;
    const existing = target[key];
    target[key] = isPlainObject(value) && isPlainObject(existing) ? mergeInto({ ...existing }, value) : value;
  }
  return target;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stripUndefined(value: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));
}
