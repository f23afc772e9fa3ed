/**
 * inference: the node's LlamaRuntime (llama.cpp in a worker process) on the
 * project's tiny GGUF model: worker start, first load, greedy tokens/s at
 * threads 1, and teacher-forced scoring (what a validator runs) against
 * regenerating the same tokens.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LlamaRuntime, type Generation, type GenerationSettings, type ModelRef } from '../../../device-agent/src/runtimes/llama/index.ts';
import { writeTinyModel } from '../model/index.ts';
import { formatNumber, summarize, type BenchOptions, type Benchmark, type Reporter } from './harness.ts';
import { DEMO_PROMPTS } from './samples.ts';

const LENGTHS = [32, 128, 512] as const;
const SCORED_TOKENS = 128;

function settings(maxTokens: number): GenerationSettings {
  // One context for every call (same contextSize/batchSize/threads), so no call pays for creating one.
  return { maxTokens, temperature: 0, seed: 1, contextSize: 1024, batchSize: 512, threads: 1, addBos: true };
}

async function timed<T>(step: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await step();
  return { value, ms: performance.now() - started };
}

/** A prompt whose greedy continuation runs to `maxTokens` without an end-of-sequence token. */
async function promptThatRunsTo(runtime: LlamaRuntime, model: ModelRef, maxTokens: number): Promise<string> {
  const candidates = [...DEMO_PROMPTS, ...Array.from({ length: 30 }, (_, i) => `prompt ${i}`)];
  for (const prompt of candidates) {
    const generation = await runtime.generate(model, prompt, settings(maxTokens));
    if (generation.finishReason === 'length') return prompt;
  }
  throw new Error(`no candidate prompt runs to ${maxTokens} tokens on the tiny model`);
}

async function run(options: BenchOptions, report: Reporter): Promise<void> {
  const startReps = options.quick ? 1 : 3;
  const reps = options.quick ? 3 : 10;
  report.method(
    `LlamaRuntime from device-agent/src/runtimes/llama (node-llama-cpp in a forked worker, CPU, gpu: false) on writeTinyModel's model (seed 1, llama arch, vocab 417, 2 layers, embedding 64)`,
  );
  report.method(
    `worker start = runtime.start() (fork + tsx import, up to the worker's ready); first load = runtime.load() wall time (getLlama + loadModel); ${startReps} cold starts, a new runtime each`,
  );
  report.method(
    `generation: greedy (temperature 0), threads 1, contextSize 1024, batchSize 512, addBos, one prompt that runs to full length; per length 1 untimed + ${reps} timed calls; tokens/s = tokens / wall time of runtime.generate (prompt, IPC and detokenize included)`,
  );
  report.method(
    `verification: runtime.score(promptTokens, the ${SCORED_TOKENS} generated tokens) vs runtime.generate of the same ${SCORED_TOKENS} tokens, same settings, ${reps} timed calls each, interleaved`,
  );

  const dir = await mkdtemp(join(tmpdir(), 'meshchain-bench-inference-'));
  let runtime: LlamaRuntime | null = null;
  try {
    const written = await timed(() => writeTinyModel({ path: join(dir, 'tiny.gguf') }));
    const model: ModelRef = { path: written.value.path, sha256: written.value.sha256 };
    report.note(`tiny model: ${formatNumber(written.value.size / 1024)} KiB, written in ${formatNumber(written.ms)} ms`);

    const starts: number[] = [];
    const loads: number[] = [];
    const firstGenerations: number[] = [];
    for (let rep = 0; rep < startReps; rep++) {
      options.signal.throwIfAborted();
      await runtime?.stop();
      const fresh = new LlamaRuntime();
      runtime = fresh;
      starts.push((await timed(() => fresh.start())).ms);
      loads.push((await timed(() => fresh.load(model))).ms);
      firstGenerations.push((await timed(() => fresh.generate(model, 'hello', settings(1)))).ms);
    }
    report.figure('worker start (fork + import, until ready)', 'ms', starts);
    report.figure('first load of the model (getLlama + loadModel)', 'ms', loads);
    report.figure('first 1-token generation (creates the context)', 'ms', firstGenerations);
    if (!runtime) throw new Error('no runtime');
    const live: LlamaRuntime = runtime;

    const prompt = await promptThatRunsTo(live, model, Math.max(...LENGTHS));
    report.note(`prompt: ${JSON.stringify(prompt)}`);
    for (const length of LENGTHS) {
      options.signal.throwIfAborted();
      await live.generate(model, prompt, settings(length));
      const rates: number[] = [];
      const decodeRates: number[] = [];
      for (let rep = 0; rep < reps; rep++) {
        const { value, ms } = await timed(() => live.generate(model, prompt, settings(length)));
        rates.push(value.tokens.length / (ms / 1000));
        decodeRates.push((value.tokens.length - 1) / (value.timings.generateMs / 1000));
      }
      report.figure(`greedy generation, ${length} tokens, threads 1`, 'tokens/s', rates);
      report.figure(`  decode only (after the first token, worker-side timer)`, 'tokens/s', decodeRates);
    }

    // Teacher-forced verification against regeneration of the same claim.
    const claim: Generation = await live.generate(model, prompt, settings(SCORED_TOKENS));
    const scoreSettings = { contextSize: 1024, batchSize: 512, threads: 1 };
    await live.score(model, claim.promptTokens, claim.tokens, scoreSettings);
    const scoreMs: number[] = [];
    const regenerateMs: number[] = [];
    let disagreements = 0;
    let worstGap = 0;
    for (let rep = 0; rep < reps; rep++) {
      options.signal.throwIfAborted();
      const scored = await timed(() => live.score(model, claim.promptTokens, claim.tokens, scoreSettings));
      scoreMs.push(scored.ms);
      for (const s of scored.value) {
        if (s.topToken !== s.token) disagreements++;
        worstGap = Math.max(worstGap, s.maxLogit - s.claimedLogit);
      }
      regenerateMs.push((await timed(() => live.generate(model, prompt, settings(SCORED_TOKENS)))).ms);
    }
    const score = report.figure(`score() ${SCORED_TOKENS} claimed tokens (teacher-forced prefill)`, 'ms', scoreMs);
    const regenerate = report.figure(`regenerate the same ${SCORED_TOKENS} tokens`, 'ms', regenerateMs);
    const ratios = regenerateMs.map((r, i) => r / (scoreMs[i] ?? Number.NaN));
    report.figure('  verification speed-up (regenerate / score, per pair)', '×', summarize(ratios));
    report.note(
      `score medians ${formatNumber(score.median)} ms vs ${formatNumber(regenerate.median)} ms; claimed token not the top token at ${disagreements} of ${reps * SCORED_TOKENS} positions; largest (max − claimed) logit gap ${worstGap.toFixed(4)}`,
    );
  } finally {
    await runtime?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

export const inferenceBenchmark: Benchmark = {
  name: 'inference',
  title: 'llama runtime on the tiny model: start, load, tokens/s, score vs regenerate',
  run,
};
