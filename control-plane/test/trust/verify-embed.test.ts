import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LlamaRuntime, outputVerdicts, type ModelRef } from '@meshchain/device-agent/runtimes/llama';
import { writeTinyModel } from '@meshchain/scripts/model';
import { createModelFixtures } from '../../../device-agent/test/runtimes/llama-fixtures.ts';
import { checkShard, cosineSimilarity, DEFAULT_MIN_COSINE, verifyEmbedOutputs } from '../../src/trust/verify-infer.ts';

const TEXTS = ['the mesh embeds text', 'a second, longer text about boards at home running shards', 'x'];
const inputs = TEXTS.map((text, index) => ({ index, text }));
const settings = { contextSize: 512, batchSize: 512 };
const options = { minCosine: DEFAULT_MIN_COSINE, threads: 1 };

describe('embedding verification by recomputation', () => {
  let dir = '';
  let model: ModelRef;
  let otherModel: ModelRef;
  const worker = new LlamaRuntime();
  const validator = new LlamaRuntime();
  let honest: number[][] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshchain-embed-'));
    model = await writeTinyModel({ path: join(dir, 'tiny.gguf') });
    otherModel = await writeTinyModel({ path: join(dir, 'other.gguf'), seed: 7 });
    // The worker embeds with other threads and another batch size than the validator.
    honest = (await worker.embed(model, TEXTS, { contextSize: 512, batchSize: 16, threads: 2 })).vectors;
  });
  after(async () => {
    await worker.stop();
    await validator.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const outputs = (vectors: number[][]) => vectors.map((vector, index) => ({ index, vector }));

  it('gives one vector per text, of the model’s width, and passes honest vectors computed in another process', async () => {
    assert.equal(honest.length, TEXTS.length);
    assert.ok(honest.every((v) => v.length === 64 && v.some((x) => x !== 0)));
    const verdict = await verifyEmbedOutputs(validator, model, inputs, outputs(honest), settings, options);
    assert.equal(verdict.ok, true, JSON.stringify(verdict));
    assert.equal(verdict.checkedTokens, TEXTS.length);
    assert.ok(verdict.maxGap < 1 - DEFAULT_MIN_COSINE);
  });

  it('catches random vectors and names the output', async () => {
    let seed = 1;
    const random = honest.map((v) => v.map(() => ((seed = (seed * 48271) % 2147483647) / 2147483647) * 2 - 1));
    const verdict = await verifyEmbedOutputs(validator, model, inputs, outputs(random), settings, options);
    assert.equal(verdict.ok, false);
    assert.match(verdict.ok ? '' : verdict.reason, /^output 0: cosine similarity/);
  });

  it('catches vectors of another model of the same shape', async () => {
    const other = (await worker.embed(otherModel, TEXTS, { ...settings, threads: 1 })).vectors;
    const verdict = await verifyEmbedOutputs(validator, model, inputs, outputs(other), settings, options);
    assert.equal(verdict.ok, false);
    assert.match(verdict.ok ? '' : verdict.reason, /cosine similarity/);
  });

  it('catches a replayed vector of another text, a rescaled vector and a truncated one', async () => {
    const replayed = [honest[0]!, honest[0]!, honest[2]!];
    const r = await verifyEmbedOutputs(validator, model, inputs, outputs(replayed), settings, options);
    assert.equal(r.ok ? null : r.failedAt, 1);
    const scaled = [honest[0]!.map((x) => x * 2), honest[1]!, honest[2]!];
    const s = await verifyEmbedOutputs(validator, model, inputs, outputs(scaled), settings, options);
    assert.match(s.ok ? '' : s.reason, /vector length is 2\.0000 × the recomputed one/);
    const truncated = [honest[0]!.slice(0, 32), honest[1]!, honest[2]!];
    const t = await verifyEmbedOutputs(validator, model, inputs, outputs(truncated), settings, options);
    assert.match(t.ok ? '' : t.reason, /32 dimensions, the model gives 64/);
  });

  it('computes cosine similarity, with 0 for mismatched or zero vectors', () => {
    assert.equal(cosineSimilarity([1, 0], [1, 0]), 1);
    assert.equal(cosineSimilarity([1, 0], [0, 1]), 0);
    assert.ok(Math.abs(cosineSimilarity([1, 2, 3], [-1, -2, -3]) + 1) < 1e-12);
    assert.equal(cosineSimilarity([1, 2], [1, 2, 3]), 0);
    assert.equal(cosineSimilarity([0, 0], [1, 1]), 0);
  });

  it('reports a verdict per output: pass before the failing one, fail at it, unchecked after', () => {
    const base = { checkedTokens: 0, maxGap: 0, ms: 0 };
    assert.deepEqual(outputVerdicts(3, { ok: true, ...base }), ['pass', 'pass', 'pass']);
    assert.deepEqual(outputVerdicts(4, { ok: false, reason: 'x', failedAt: 1, ...base }), ['pass', 'fail', 'unchecked', 'unchecked']);
    assert.deepEqual(outputVerdicts(2, { ok: false, reason: 'count', failedAt: null, ...base }), ['fail', 'fail']);
  });

  it('a model that aborts llama.cpp fails the check (never the node), takes down only the worker, and the next check runs', async () => {
    const fixtures = await createModelFixtures();
    try {
      const check = { workload: 'embed' as const, model: fixtures.abortsLlama, settings, inputs, outputs: outputs(honest) };
      await assert.rejects(checkShard(validator, check, { ...options, tolerance: 0.05 }), /could not run: The llama worker crashed/);
      const again = await checkShard(validator, { ...check, model }, { ...options, tolerance: 0.05 });
      assert.equal(again.ok, true);
    } finally {
      await fixtures.cleanup();
    }
  });

  it('refuses an empty text with a clear error, in the worker, without crashing it', async () => {
    await assert.rejects(worker.embed(model, ['ok', ''], { ...settings, threads: 1 }), /Text #1 is empty/);
    assert.equal((await worker.embed(model, ['still works'], { ...settings, threads: 1 })).vectors.length, 1);
  });
});
