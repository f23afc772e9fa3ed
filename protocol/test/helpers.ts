import { NodeCryptoSigner, generateSeed, sealMessage, type AssignmentBody, type ResultBody } from '../src/index.ts';
import { canonicalHash, deriveId } from '../src/index.ts';

export function newSigner(): NodeCryptoSigner {
  return new NodeCryptoSigner(generateSeed());
}

export function sampleAssignment(): AssignmentBody {
  const inputs = [{ index: 0, prompt: 'hello' }];
  return {
    jobId: 'job_1',
    shardId: 'shard_1',
    shardIndex: 0,
    leaseId: 'lease_1',
    leaseUntil: Date.now() + 60_000,
    workload: 'infer',
    model: { sha256: 'a'.repeat(64), size: 1000, url: 'http://127.0.0.1:1/v1/models/' + 'a'.repeat(64) },
    inputs,
    inputHash: canonicalHash(inputs),
    settings: { maxTokens: 8, temperature: 0, seed: 1, contextSize: 256, batchSize: 256, addBos: true },
  };
}

export function sampleResult(): ResultBody {
  return {
    jobId: 'job_1',
    shardId: 'shard_1',
    leaseId: 'lease_1',
    modelSha256: 'a'.repeat(64),
    inputHash: 'b'.repeat(64),
    outputs: [{ index: 0, tokens: [1, 2, 3], text: 'abc', finishReason: 'length' }],
    stats: { promptTokens: 3, generatedTokens: 3, computeMs: 1.5 },
  };
}

export { deriveId, sealMessage };
