import { z } from 'zod';
import { CONTROL_PLANE_ID_PATTERN, NODE_ID_PATTERN } from './ids.ts';
import { earningsLeaf } from './rewards.ts';

/**
 * Runtime schemas of every message body. The TypeScript types are inferred
 * from these, so the runtime check and the type can never drift apart.
 */

export const LIMITS = {
  /** Largest MQTT payload any party accepts. */
  maxPayloadBytes: 1024 * 1024,
  maxInputsPerShard: 1024,
  maxPromptChars: 32_768,
  maxTokensPerOutput: 8192,
  maxTextChars: 131_072,
} as const;

export const nodeIdSchema = z.string().regex(NODE_ID_PATTERN, 'not a node id');
export const controlPlaneIdSchema = z.string().regex(CONTROL_PLANE_ID_PATTERN, 'not a control-plane id');
export const sha256Schema = z.string().regex(/^[0-9a-f]{64}$/, 'not a lowercase sha256 hex digest');
export const entityIdSchema = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'not an id');
export const timestampSchema = z.number().int().nonnegative();
const semver = z.string().regex(/^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$/, 'not a semantic version');
const tokenId = z.number().int().nonnegative().max(16_777_215);

export const generationSettingsSchema = z.object({
  maxTokens: z.number().int().min(1).max(LIMITS.maxTokensPerOutput),
  temperature: z.literal(0),
  seed: z.number().int().nonnegative().max(2 ** 32 - 1),
  contextSize: z.number().int().min(16).max(131_072),
  batchSize: z.number().int().min(1).max(131_072),
  addBos: z.boolean(),
});
export type GenerationSettings = z.infer<typeof generationSettingsSchema>;

export const modelRefSchema = z.object({
  sha256: sha256Schema,
  size: z.number().int().positive(),
  /** Where the node fetches it when it is not cached; any mirror serving by hash works. */
  url: z.string().url().max(2048),
});
export type ModelRef = z.infer<typeof modelRefSchema>;

export const promptInputSchema = z.object({
  index: z.number().int().nonnegative(),
  prompt: z.string().max(LIMITS.maxPromptChars),
});
export type PromptInput = z.infer<typeof promptInputSchema>;

/**
 * The kinds of work a shard can carry. Assignment and result bodies are
 * discriminated unions on `workload`; each workload adds one member to each.
 */
export const WORKLOADS = ['infer', 'synthetic', 'embed', 'verify'] as const;
export const workloadSchema = z.enum(WORKLOADS);
export type Workload = z.infer<typeof workloadSchema>;

/**
 * A synthetic item: the node returns `echo` after sleeping `sleepMs`, and is
 * credited the declared `units`. Needs no model: for tests, benchmarks and
 * simulated fleets, through the same signed path as real work.
 */
export const syntheticInputSchema = z.object({
  index: z.number().int().nonnegative(),
  echo: z.string().max(LIMITS.maxPromptChars),
  sleepMs: z.number().int().nonnegative().max(600_000).optional(),
  units: z.number().int().min(1).max(1_000_000),
});
export type SyntheticInput = z.infer<typeof syntheticInputSchema>;

export const syntheticOutputSchema = z.object({
  index: z.number().int().nonnegative(),
  echo: z.string().max(LIMITS.maxPromptChars),
});
export type SyntheticOutput = z.infer<typeof syntheticOutputSchema>;

export const inferOutputSchema = z.object({
  index: z.number().int().nonnegative(),
  tokens: z.array(tokenId).max(LIMITS.maxTokensPerOutput),
  text: z.string().max(LIMITS.maxTextChars),
  finishReason: z.enum(['length', 'eos']),
});
export type InferOutput = z.infer<typeof inferOutputSchema>;

/** Settings of an embedding shard (threads are the node's own choice: they do not change the vectors). */
export const embedSettingsSchema = z.object({
  contextSize: z.number().int().min(16).max(131_072),
  batchSize: z.number().int().min(1).max(131_072),
});
export type EmbedSettings = z.infer<typeof embedSettingsSchema>;

/** One text to embed. */
export const textInputSchema = z.object({
  index: z.number().int().nonnegative(),
  text: z.string().max(LIMITS.maxPromptChars),
});
export type TextInput = z.infer<typeof textInputSchema>;

/** Largest embedding a result may carry. */
export const MAX_EMBEDDING_DIMS = 16_384;

export const embedOutputSchema = z.object({
  index: z.number().int().nonnegative(),
  /** The model's pooled embedding of the text, as llama.cpp returns it (not normalised). */
  vector: z.array(z.number().finite()).min(1).max(MAX_EMBEDDING_DIMS),
});
export type EmbedOutput = z.infer<typeof embedOutputSchema>;

/**
 * What a validator node is asked to check: one accepted shard result of
 * another node (the shard's inputs travel beside it in the assignment).
 */
export const verifyTargetSchema = z.discriminatedUnion('workload', [
  z.object({
    workload: z.literal('infer'),
    model: modelRefSchema,
    settings: generationSettingsSchema,
    outputs: z.array(inferOutputSchema).min(1).max(LIMITS.maxInputsPerShard),
  }),
  z.object({
    workload: z.literal('embed'),
    model: modelRefSchema,
    settings: embedSettingsSchema,
    outputs: z.array(embedOutputSchema).min(1).max(LIMITS.maxInputsPerShard),
  }),
]);
export type VerifyTarget = z.infer<typeof verifyTargetSchema>;

export const presenceBodySchema = z.object({
  state: z.enum(['online', 'offline']),
  /**
   * Start of the connection session this state belongs to. Receivers order
   * presence by it: a later session wins; within a session, offline wins
   * (the will is registered before the online message is sent).
   */
  since: timestampSchema,
});
export type PresenceBody = z.infer<typeof presenceBodySchema>;

export const capabilitiesBodySchema = z.object({
  agentVersion: semver,
  roles: z.array(z.enum(['worker', 'validator'])).min(1).max(4),
  runtimes: z
    .array(z.object({ workload: workloadSchema, engine: z.string().max(64), version: z.string().max(64) }))
    .max(16),
  hardware: z.object({
    arch: z.string().max(32),
    platform: z.string().max(32),
    cpuModel: z.string().max(128),
    cpus: z.number().int().positive().max(1024),
    memoryBytes: z.number().int().nonnegative(),
    gpu: z.string().max(128).nullable(),
  }),
  models: z.array(sha256Schema).max(256),
  maxConcurrentShards: z.number().int().min(1).max(64),
});
export type CapabilitiesBody = z.infer<typeof capabilitiesBodySchema>;

/** What every assignment carries, whatever its workload. */
const assignmentCommon = {
  jobId: entityIdSchema,
  shardId: entityIdSchema,
  shardIndex: z.number().int().nonnegative(),
  /** Changes every time the shard is leased again; results must name it. */
  leaseId: entityIdSchema,
  leaseUntil: timestampSchema,
  /** canonicalHash(inputs): the result must echo it. */
  inputHash: sha256Schema,
};

export const inferAssignmentBodySchema = z.object({
  ...assignmentCommon,
  workload: z.literal('infer'),
  model: modelRefSchema,
  inputs: z.array(promptInputSchema).min(1).max(LIMITS.maxInputsPerShard),
  settings: generationSettingsSchema,
});
export type InferAssignmentBody = z.infer<typeof inferAssignmentBodySchema>;

export const syntheticAssignmentBodySchema = z.object({
  ...assignmentCommon,
  workload: z.literal('synthetic'),
  inputs: z.array(syntheticInputSchema).min(1).max(LIMITS.maxInputsPerShard),
});
export type SyntheticAssignmentBody = z.infer<typeof syntheticAssignmentBodySchema>;

export const embedAssignmentBodySchema = z.object({
  ...assignmentCommon,
  workload: z.literal('embed'),
  model: modelRefSchema,
  inputs: z.array(textInputSchema).min(1).max(LIMITS.maxInputsPerShard),
  settings: embedSettingsSchema,
});
export type EmbedAssignmentBody = z.infer<typeof embedAssignmentBodySchema>;

/**
 * A verification task for a node with role `validator`: recompute another
 * node's accepted result and say whether it holds. `jobId`, `shardId` and
 * `inputHash` are those of the checked shard; `leaseId` names the task.
 */
export const verifyAssignmentBodySchema = z.object({
  ...assignmentCommon,
  workload: z.literal('verify'),
  /** Envelope id of the result under check. */
  resultId: z.string().min(1).max(64),
  /** The node that produced it (never one of the validator's owner's nodes). */
  workerId: nodeIdSchema,
  /** The checked shard's inputs: prompts (infer) or texts (embed). */
  inputs: z.union([z.array(promptInputSchema).min(1).max(LIMITS.maxInputsPerShard), z.array(textInputSchema).min(1).max(LIMITS.maxInputsPerShard)]),
  target: verifyTargetSchema,
  /** The control plane's thresholds: largest logit gap (infer), smallest cosine similarity (embed). */
  tolerance: z.number().positive().max(100),
  minCosine: z.number().min(-1).max(1),
});
export type VerifyAssignmentBody = z.infer<typeof verifyAssignmentBodySchema>;

export const assignmentBodySchema = z.discriminatedUnion('workload', [
  inferAssignmentBodySchema,
  syntheticAssignmentBodySchema,
  embedAssignmentBodySchema,
  verifyAssignmentBodySchema,
]);
export type AssignmentBody = z.infer<typeof assignmentBodySchema>;

/** What every result carries, whatever its workload. */
const resultCommon = {
  jobId: entityIdSchema,
  shardId: entityIdSchema,
  leaseId: entityIdSchema,
  inputHash: sha256Schema,
};

/** An inference result. `workload` is absent on the wire: infer results predate the other workloads. */
export const inferResultBodySchema = z.object({
  ...resultCommon,
  workload: z.literal('infer').optional(),
  modelSha256: sha256Schema,
  outputs: z.array(inferOutputSchema).min(1).max(LIMITS.maxInputsPerShard),
  stats: z.object({
    promptTokens: z.number().int().nonnegative(),
    generatedTokens: z.number().int().nonnegative(),
    computeMs: z.number().nonnegative(),
  }),
});
export type InferResultBody = z.infer<typeof inferResultBodySchema>;

export const syntheticResultBodySchema = z.object({
  ...resultCommon,
  workload: z.literal('synthetic'),
  outputs: z.array(syntheticOutputSchema).min(1).max(LIMITS.maxInputsPerShard),
  stats: z.object({ computeMs: z.number().nonnegative() }),
});
export type SyntheticResultBody = z.infer<typeof syntheticResultBodySchema>;

export const embedResultBodySchema = z.object({
  ...resultCommon,
  workload: z.literal('embed'),
  modelSha256: sha256Schema,
  outputs: z.array(embedOutputSchema).min(1).max(LIMITS.maxInputsPerShard),
  stats: z.object({ promptTokens: z.number().int().nonnegative(), computeMs: z.number().nonnegative() }),
});
export type EmbedResultBody = z.infer<typeof embedResultBodySchema>;

/** A validator node's signed verdict on a verification task. */
export const verifyResultBodySchema = z.object({
  ...resultCommon,
  workload: z.literal('verify'),
  resultId: z.string().min(1).max(64),
  verdict: z.enum(['pass', 'fail']),
  reason: z.string().max(512).optional(),
  /** Per checked output; checking stops at the first that fails, so later ones are 'unchecked'. */
  outputs: z
    .array(z.object({ index: z.number().int().nonnegative(), verdict: z.enum(['pass', 'fail', 'unchecked']) }))
    .min(1)
    .max(LIMITS.maxInputsPerShard),
  /** Tokens (infer) or vectors (embed) checked. */
  checked: z.number().int().nonnegative(),
  stats: z.object({ computeMs: z.number().nonnegative() }),
});
export type VerifyResultBody = z.infer<typeof verifyResultBodySchema>;

export const resultBodySchema = z.discriminatedUnion('workload', [inferResultBodySchema, syntheticResultBodySchema, embedResultBodySchema, verifyResultBodySchema]);
export type ResultBody = z.infer<typeof resultBodySchema>;

/** Narrows an assignment to inference; throws for any other workload. */
export function inferAssignment(body: AssignmentBody): InferAssignmentBody {
  if (body.workload !== 'infer') throw new TypeError(`expected an infer assignment, got ${body.workload}`);
  return body;
}

/** The workload of a result body (infer results carry none on the wire). */
export function workloadOfResult(body: ResultBody): Workload {
  return body.workload ?? 'infer';
}

export const ackBodySchema = z.object({
  /** The envelope id of the result being acknowledged. */
  resultId: z.string().max(64),
  shardId: entityIdSchema,
  leaseId: entityIdSchema,
  status: z.enum(['accepted', 'duplicate', 'rejected']),
  reason: z.string().max(512).optional(),
  /** Compute units credited for an accepted result (when rewards are on); a later failed spot check forfeits them. */
  units: z.number().int().nonnegative().optional(),
});
export type AckBody = z.infer<typeof ackBodySchema>;

export const handbackBodySchema = z.object({
  shardId: entityIdSchema,
  leaseId: entityIdSchema,
  reason: z.enum(['shutdown', 'error', 'unsupported', 'expired']),
  detail: z.string().max(512).optional(),
});
export type HandbackBody = z.infer<typeof handbackBodySchema>;

/**
 * A node is still working on a leased shard. Sent while a shard runs, at most
 * every few seconds; the control plane extends the lease of the node that holds it.
 */
export const progressBodySchema = z.object({
  jobId: entityIdSchema,
  shardId: entityIdSchema,
  leaseId: entityIdSchema,
  /** Inputs of the shard finished so far. */
  done: z.number().int().nonnegative().max(LIMITS.maxInputsPerShard),
  /** Tokens generated so far in this shard. */
  tokens: z.number().int().nonnegative(),
});
export type ProgressBody = z.infer<typeof progressBodySchema>;

export const announcementBodySchema = z.object({
  controlPlaneId: controlPlaneIdSchema,
  apiUrl: z.string().url().max(2048).nullable(),
  message: z.string().max(1024).optional(),
});
export type AnnouncementBody = z.infer<typeof announcementBodySchema>;

/** True when `address` is a 20-byte hex address whose mixed case, if any, is a valid EIP-55 checksum. */
function isEvmAddress(address: string): boolean {
  try {
    earningsLeaf(address, 0n); // validates the address exactly as the reward leaves encode it
    return true;
  } catch {
    return false;
  }
}

/** An EVM address, checksummed (EIP-55) or all one case. */
export const evmAddressSchema = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, 'not a 0x-prefixed 20-byte hex address')
  .refine(isEvmAddress, 'bad EIP-55 checksum (use the checksummed or the all-lowercase form)');

/**
 * A node binds itself to the EVM address that receives its rewards. Retained;
 * the node's signature on the envelope proves the node. Last writer wins on `boundAt`.
 */
export const bindingBodySchema = z.object({
  owner: evmAddressSchema.refine((a) => !/^0x0{40}$/.test(a), 'the zero address cannot own a node'),
  /** When the owner bound the node (ms since the epoch). */
  boundAt: timestampSchema,
});
export type BindingBody = z.infer<typeof bindingBodySchema>;

const nullableNumber = z.number().finite().nullable();

/**
 * A node's health sample, sent every telemetry interval. Flat and compact:
 * byte counts and rates as whole numbers, percentages and °C with one decimal,
 * null where the board cannot tell.
 */
export const telemetryBodySchema = z.object({
  at: timestampSchema,
  cpuPct: z.number().min(0).max(100_000),
  cpuC: nullableNumber,
  memUsed: z.number().nonnegative(),
  memTotal: z.number().nonnegative(),
  diskUsed: nullableNumber,
  diskTotal: nullableNumber,
  diskAvail: nullableNumber,
  rxBps: nullableNumber,
  txBps: nullableNumber,
  upS: z.number().nonnegative(),
  /** Raspberry Pi `vcgencmd get_throttled` bits. */
  throttled: z.number().int().nonnegative().nullable(),
  gpu: z
    .object({
      name: z.string().max(128),
      pct: nullableNumber,
      memUsed: nullableNumber,
      memTotal: nullableNumber,
      c: nullableNumber,
    })
    .nullable(),
  /** The node's own judgement, with hysteresis: it takes no new work while true. */
  overheating: z.boolean(),
});
export type TelemetryBody = z.infer<typeof telemetryBodySchema>;

/** Something the control plane asks one node to do now. */
export const commandBodySchema = z.discriminatedUnion('type', [
  /** Blink the identify pattern so the owner can find the box. */
  z.object({ type: z.literal('identify'), seconds: z.number().int().min(1).max(600) }),
  /**
   * Stop work on a job: abort the running shard and skip queued ones. With
   * `leaseIds`, only those leases (e.g. the losing copy of a speculative
   * shard); without, every lease of the job.
   */
  z.object({
    type: z.literal('cancel'),
    jobId: entityIdSchema,
    leaseIds: z.array(entityIdSchema).min(1).max(LIMITS.maxInputsPerShard).optional(),
    reason: z.string().max(256),
  }),
]);
export type CommandBody = z.infer<typeof commandBodySchema>;
