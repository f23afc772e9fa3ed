/**
 * Calibrates the spot checker's cosine threshold for embeddings: embed
 * honest texts under one setting (the "worker"), recompute them in another
 * process under every other setting (thread counts, batch sizes), and report
 * the lowest cosine similarity and the largest norm deviation seen: the
 * honest noise. Then the same for forgeries (random vectors, another model's
 * vectors, another text's vector, a slightly perturbed vector): the
 * threshold must sit below the noise floor and far above every forgery.
 *
 *   npx tsx scripts/src/trust/calibrate-embed.ts [--texts 250]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cosineSimilarity, DEFAULT_MIN_COSINE, LlamaRuntime } from '../../../device-agent/src/runtimes/llama/index.ts';
import { writeTinyModel } from '../model/index.ts';

const { values } = parseArgs({ options: { texts: { type: 'string', default: '250' } } });
const textCount = Number(values.texts);

const WORDS = ['mesh', 'node', 'board', 'home', 'shard', 'token', 'owner', 'reward', 'the', 'a', 'runs', 'checks', 'embeds', 'quickly', 'under', 'load', '42', 'déjà', 'vu'];
function text(i: number): string {
  let seed = i * 2654435761 + 1;
  const next = (): number => (seed = (seed * 48271) % 2147483647);
  const length = 1 + (next() % 60);
  return Array.from({ length }, () => WORDS[next() % WORDS.length]).join(' ');
}
const norm = (v: readonly number[]): number => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

const dir = await mkdtemp(join(tmpdir(), 'meshchain-calibrate-embed-'));
const model = await writeTinyModel({ path: join(dir, 'tiny.gguf') });
const other = await writeTinyModel({ path: join(dir, 'other.gguf'), seed: 1234 });
const worker = new LlamaRuntime();
const validator = new LlamaRuntime();
try {
  const texts = Array.from({ length: textCount }, (_, i) => text(i));
  const started = performance.now();
  const claimed = (await worker.embed(model, texts, { contextSize: 512, batchSize: 512, threads: 1 })).vectors;
  const embedMs = performance.now() - started;
  console.log(`honest claims: ${texts.length} texts (1–60 words) embedded with batch 512, threads 1 in ${embedMs.toFixed(0)} ms (${(embedMs / texts.length).toFixed(2)} ms/text)`);
  console.log('recomputed in another process under:');
  let lowest = 1;
  let worstNorm = 0;
  let compared = 0;
  for (const batchSize of [64, 128, 512]) {
    for (const threads of [1, 2]) {
      const t0 = performance.now();
      const again = (await validator.embed(model, texts, { contextSize: 512, batchSize, threads })).vectors;
      const ms = performance.now() - t0;
      let low = 1;
      let normDev = 0;
      let identical = 0;
      for (const [i, v] of again.entries()) {
        const c = claimed[i]!;
        low = Math.min(low, cosineSimilarity(c, v));
        normDev = Math.max(normDev, Math.abs(1 - norm(c) / norm(v)));
        if (c.every((x, d) => x === v[d])) identical++;
        compared++;
      }
      lowest = Math.min(lowest, low);
      worstNorm = Math.max(worstNorm, normDev);
      console.log(
        `  batch ${String(batchSize).padStart(3)} threads ${threads}: lowest cosine ${low.toFixed(9)}, largest norm deviation ${normDev.toExponential(2)}, bitwise identical ${identical}/${again.length}, ${(ms / texts.length).toFixed(2)} ms/text`,
      );
    }
  }
  console.log(`honest noise over ${compared} recomputed vectors: 1 − lowest cosine = ${(1 - lowest).toExponential(2)}, norm deviation ≤ ${worstNorm.toExponential(2)}`);

  // Forgeries a cheating embedder could send.
  const otherVectors = (await validator.embed(other, texts, { contextSize: 512, batchSize: 512, threads: 1 })).vectors;
  let seed = 7;
  const random = (): number => ((seed = (seed * 48271) % 2147483647) / 2147483647) * 2 - 1;
  const forgeries: Record<string, number[]> = { 'random vectors': [], 'another model': [], 'another text (replay)': [], 'perturbed 5%': [] };
  for (const [i, c] of claimed.entries()) {
    forgeries['random vectors']!.push(cosineSimilarity(c.map(() => random()), c));
    forgeries['another model']!.push(cosineSimilarity(otherVectors[i]!, c));
    forgeries['another text (replay)']!.push(cosineSimilarity(claimed[(i + 1) % claimed.length]!, c));
    const n = norm(c) / Math.sqrt(c.length);
    forgeries['perturbed 5%']!.push(cosineSimilarity(c.map((x) => x + 0.05 * n * random()), c));
  }
  console.log('forgeries (cosine with the honest vector):');
  for (const [kind, list] of Object.entries(forgeries)) {
    const sorted = [...list].sort((a, b) => a - b);
    const caught = list.filter((c) => c < DEFAULT_MIN_COSINE).length;
    console.log(`  ${kind.padEnd(22)} highest ${sorted.at(-1)!.toFixed(5)}, median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(5)}; caught ${caught}/${list.length}`);
  }
  console.log(`default threshold: cosine ≥ ${DEFAULT_MIN_COSINE} and norm within ${(1 - DEFAULT_MIN_COSINE).toFixed(3)} relative`);
} finally {
  await worker.stop();
  await validator.stop();
  await rm(dir, { recursive: true, force: true });
}
