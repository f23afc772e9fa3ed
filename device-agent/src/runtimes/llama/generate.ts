/** Greedy generation on one sequence: exactly maxTokens tokens, or fewer when the model ends the text. */
import type { LlamaContextSequence, LlamaModel, Token } from 'node-llama-cpp';
import { GenerationAbortedError } from './errors.ts';
import type { Generation, GenerationSettings } from './types.ts';

export interface RunGenerationParameters {
  model: LlamaModel;
  sequence: LlamaContextSequence;
  promptTokens: readonly Token[];
  settings: GenerationSettings;
  signal: AbortSignal;
  loadMs: number;
}

export async function runGeneration(parameters: RunGenerationParameters): Promise<Generation> {
  const { model, sequence, promptTokens, settings, signal } = parameters;
  await sequence.clearHistory();

  const tokens: Token[] = [];
  let finishReason: Generation['finishReason'] = 'length';
  const started = performance.now();
  let firstTokenAt: number | undefined;
  // yieldEogToken: we must see the end token to report 'eos' (otherwise the
  // generator just stops and a short result is ambiguous).
  for await (const token of sequence.evaluate([...promptTokens], {
    temperature: 0,
    seed: settings.seed,
    yieldEogToken: true,
  })) {
    firstTokenAt ??= performance.now();
    if (signal.aborted) throw new GenerationAbortedError('Generation was aborted', { cause: signal.reason });
    if (model.isEogToken(token)) {
      finishReason = 'eos';
      break;
    }
    tokens.push(token);
    if (tokens.length >= settings.maxTokens) break;
  }
  const finished = performance.now();

  return {
    promptTokens: [...promptTokens],
    tokens: [...tokens],
    // Detokenized as a continuation of the prompt: a leading space of the
    // first token is kept, as it is when the text is appended to the prompt.
    text: model.detokenize(tokens, false, promptTokens),
    finishReason,
    timings: {
      loadMs: parameters.loadMs,
      promptMs: (firstTokenAt ?? finished) - started,
      generateMs: finished - (firstTokenAt ?? finished),
    },
  };
}
