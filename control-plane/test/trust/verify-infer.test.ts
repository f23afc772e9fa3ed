import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { GenerationSettings, InferOutput } from '@meshchain/protocol';
import { LlamaRuntime } from '@meshchain/device-agent/runtimes/llama';
import { writeTinyModel } from '@meshchain/scripts/model';
import { DEFAULT_TOLERANCE, verifyByRegeneration, verifyInferOutput } from '../../src/trust/verify-infer.ts';

const settings: GenerationSettings = { maxTokens: 24, temperature: 0, seed: 0, contextSize: 256, batchSize: 256, addBos: true };
const options = { tolerance: DEFAULT_TOLERANCE, threads: 1 };

describe('teacher-forced verification of infer results', () => {
  let dir = '';
  let model = { path: '', sha256: '' };
  const generator = new LlamaRuntime();
  const verifier = new LlamaRuntime();
  const honest: { prompt: string; output: InferOutput }[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshchain-verify-'));
    model = await writeTinyModel({ path: join(dir, 'tiny.gguf') });
    for (const prompt of ['The mesh wakes', 'Tokens flow like', 'A lease expires', 'Rewards settle once']) {
      const g = await generator.generate(model, prompt, { ...settings, threads: 1 });
      honest.push({ prompt, output: { index: 0, tokens: g.tokens, text: g.text, finishReason: g.finishReason } });
    }
  });
  after(async () => {
    await generator.stop();
    await verifier.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('passes honest generations, in another process with another batch size', async () => {
    for (const { prompt, output } of honest) {
      const verdict = await verifyInferOutput(verifier, model, prompt, output, { ...settings, batchSize: 64 }, options);
      assert.equal(verdict.ok, true, verdict.ok ? '' : verdict.reason);
      assert.ok(verdict.maxGap <= DEFAULT_TOLERANCE);
      assert.equal(verdict.checkedTokens, output.tokens.length + (output.finishReason === 'eos' ? 1 : 0));
    }
  });

  it('catches a substituted token and names its position', async () => {
    const { prompt, output } = honest[0]!;
    const tokens = [...output.tokens];
    const at = 7;
    tokens[at] = tokens[at] === 100 ? 101 : 100;
    const verdict = await verifyInferOutput(verifier, model, prompt, { ...output, tokens }, settings, options);
    assert.equal(verdict.ok, false);
    assert.equal(verdict.ok ? -1 : verdict.position, at);
  });

  it('catches a claimed end-of-sequence the model would not choose', async () => {
    const withLength = honest.find((h) => h.output.finishReason === 'length')!;
    const truncated: InferOutput = { ...withLength.output, tokens: withLength.output.tokens.slice(0, 5), finishReason: 'eos' };
    truncated.text = await verifier.detokenize(model, truncated.tokens, await promptTokens(withLength.prompt));
    const verdict = await verifyInferOutput(verifier, model, withLength.prompt, truncated, settings, options);
    assert.equal(verdict.ok, false);
    assert.match(verdict.ok ? '' : verdict.reason, /end-of-sequence/);
  });

  it('catches text that is not the text of the tokens', async () => {
    const { prompt, output } = honest[1]!;
    const verdict = await verifyInferOutput(verifier, model, prompt, { ...output, text: `${output.text}!` }, settings, options);
    assert.equal(verdict.ok, false);
    assert.match(verdict.ok ? '' : verdict.reason, /text/);
  });

  it('agrees with the regeneration method', async () => {
    const { prompt, output } = honest[2]!;
    assert.equal((await verifyByRegeneration(verifier, model, prompt, output, settings, 1)).ok, true);
    const forged = { ...output, tokens: output.tokens.map((t, i) => (i === 3 ? (t === 100 ? 101 : 100) : t)) };
    const regenerated = await verifyByRegeneration(verifier, model, prompt, forged, settings, 1);
    assert.equal(regenerated.ok, false);
    assert.equal(regenerated.ok ? -1 : regenerated.position, 3);
  });

  async function promptTokens(prompt: string): Promise<number[]> {
    const { bosToken } = await verifier.load(model);
    return [...(bosToken === null ? [] : [bosToken]), ...(await verifier.tokenize(model, prompt))];
  }
});
