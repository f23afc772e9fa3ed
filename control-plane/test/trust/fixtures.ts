import type { InferAssignmentBody, InferResultBody } from '@meshchain/protocol';

/** Polls `probe` (an API read, a database query) until it returns something, for the trust tests' multi-step flows. */
export async function until<T>(what: string, probe: () => Promise<T>, timeoutMs = 60_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A plausible forgery: the right shape, the right count, tokens the model would not choose. */
export function forged(a: InferAssignmentBody): InferResultBody {
  return {
    jobId: a.jobId,
    shardId: a.shardId,
    leaseId: a.leaseId,
    modelSha256: a.model.sha256,
    inputHash: a.inputHash,
    outputs: a.inputs.map((input) => ({
      index: input.index,
      tokens: Array.from({ length: a.settings.maxTokens }, (_, i) => 100 + ((i * 37 + input.index) % 250)),
      text: 'plausible',
      finishReason: 'length' as const,
    })),
    stats: { promptTokens: 4, generatedTokens: a.inputs.length * a.settings.maxTokens, computeMs: 5 },
  };
}
