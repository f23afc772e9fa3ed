/**
 * The recomputation checks live beside the llama runtime, so the control
 * plane's validator and validator nodes run the same code.
 */
export {
  checkShard,
  cosineSimilarity,
  DEFAULT_MIN_COSINE,
  DEFAULT_TOLERANCE,
  verifyByRegeneration,
  verifyEmbedOutputs,
  verifyInferOutput,
  type CheckOptions,
  type ShardCheck,
  type ShardVerdict,
  type Verification,
} from '@meshchain/device-agent/runtimes/llama';
