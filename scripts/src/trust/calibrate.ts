/**
 * Calibrates the spot checker's tolerance: generate honest claims with one
 * setting, score them teacher-forced under others (batch sizes, threads,
 * another process), and report the largest gap between the model's best
 * logit and the claimed token's. The tolerance must sit above this noise
 * and far below the gap a forged token produces.
 *
 *   npx tsx scripts/src/trust/calibrate.ts [--prompts 24] [--tokens 96]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LlamaRuntime } from '../../../device-agent/src/runtimes/llama/index.ts';
import { writeTinyModel } from '../model/index.ts';

const { values } = parseArgs({ options: { prompts: { type: 'string', default: '24' }, tokens: { type: 'string', default: '96' } } });
const promptCount = Number(values.prompts);
const maxTokens = Number(values.tokens);

const dir = await mkdtemp(join(tmpdir(), 'meshchain-calibrate-'));
const model = await writeTinyModel({ path: join(dir, 'tiny.gguf') });
const generator = new LlamaRuntime();
const scorer = new LlamaRuntime();
try {
  const base = { maxTokens, temperature: 0 as const, seed: 0, contextSize: 512, batchSize: 512, addBos: true };
  const claims = [];
  for (let i = 0; i < promptCount; i++) {
    const g = await generator.generate(model, `Calibration prompt ${i}: the mesh ${'and '.repeat(i % 5)}`, { ...base, threads: 1 });
    claims.push(g);
  }
  const { eosToken } = await scorer.load(model);
  console.log(`honest claims: ${claims.length} prompts × up to ${maxTokens} tokens, generated with batch 512, threads 1`);
  console.log('scored teacher-forced in another process under:');
  const gaps: number[] = [];
  for (const batchSize of [16, 64, 512]) {
    for (const threads of [1, 2]) {
      let max = 0;
      let mismatches = 0;
      for (const c of claims) {
        const claimed = c.finishReason === 'eos' && eosToken !== null ? [...c.tokens, eosToken] : c.tokens;
        const scores = await scorer.score(model, c.promptTokens, claimed, { contextSize: 512, batchSize, threads });
        for (const s of scores) {
          const gap = s.maxLogit - s.claimedLogit;
          max = Math.max(max, gap);
          if (s.topToken !== s.token) mismatches++;
        }
      }
      gaps.push(max);
      console.log(`  batch ${String(batchSize).padStart(3)} threads ${threads}: max gap ${max.toFixed(5)}, argmax flips ${mismatches}`);
    }
  }
  // A forged token: replace one claimed token with another and see the gap it opens.
  const forgedGaps: number[] = [];
  for (const c of claims.slice(0, 8)) {
    const tokens = [...c.tokens];
    const at = Math.min(3, tokens.length - 1);
    tokens[at] = ((tokens[at] ?? 0) + 17) % 400;
    const scores = await scorer.score(model, c.promptTokens, tokens, { contextSize: 512, batchSize: 512, threads: 1 });
    const s = scores[at];
    if (s) forgedGaps.push(s.maxLogit - s.claimedLogit);
  }
  console.log(`honest noise: max gap ${Math.max(...gaps).toFixed(5)} over every setting`);
  console.log(`forged tokens: smallest gap ${Math.min(...forgedGaps).toFixed(3)}, median ${forgedGaps.sort((a, b) => a - b)[Math.floor(forgedGaps.length / 2)]?.toFixed(3)}`);
  console.log('default tolerance: 0.05');
} finally {
  await generator.stop();
  await scorer.stop();
  await rm(dir, { recursive: true, force: true });
}
