/** Pure checks of what callers pass in, run before anything reaches llama.cpp. */
import { ContextOverflowError, InvalidRequestError } from './errors.ts';
import type { GenerationSettings, ModelRef, ScoreSettings } from './types.ts';

function positiveInteger(name: string, value: unknown): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new InvalidRequestError(`${name} must be a positive integer, got ${String(value)}`);
  }
}

export function assertModelRef(model: ModelRef): void {
  if (typeof model.path !== 'string' || model.path.length === 0) {
    throw new InvalidRequestError('model.path must be a non-empty string');
  }
  if (typeof model.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(model.sha256)) {
    throw new InvalidRequestError(`model.sha256 must be 64 lowercase hex digits, got ${String(model.sha256)}`);
  }
}

export function assertScoreSettings(settings: ScoreSettings): void {
  positiveInteger('contextSize', settings.contextSize);
  positiveInteger('batchSize', settings.batchSize);
  positiveInteger('threads', settings.threads);
}

export function assertGenerationSettings(settings: GenerationSettings): void {
  assertScoreSettings(settings);
  positiveInteger('maxTokens', settings.maxTokens);
  if (settings.temperature !== 0) {
    throw new InvalidRequestError(`temperature must be 0 (greedy decoding), got ${String(settings.temperature)}`);
  }
  if (!Number.isSafeInteger(settings.seed) || settings.seed < 0) {
    throw new InvalidRequestError(`seed must be a non-negative integer, got ${String(settings.seed)}`);
  }
  if (typeof settings.addBos !== 'boolean') throw new InvalidRequestError('addBos must be a boolean');
}

export function assertTokenIds(name: string, tokens: readonly number[], vocabSize: number): void {
  for (const token of tokens) {
    if (!Number.isInteger(token) || token < 0 || token >= vocabSize) {
      throw new InvalidRequestError(`${name} holds token id ${String(token)}, outside the vocabulary (0..${vocabSize - 1})`);
    }
  }
}

/** Every evaluated token takes one context cell; a generated token needs one too. */
export function assertFitsContext(parameters: {
  promptTokens: number;
  newTokens: number;
  contextSize: number;
  what: string;
}): void {
  const { promptTokens, newTokens, contextSize, what } = parameters;
  if (promptTokens + newTokens > contextSize) {
    throw new ContextOverflowError(
      `${what} needs ${promptTokens + newTokens} context cells (${promptTokens} prompt + ${newTokens}) but contextSize is ${contextSize}`,
      { details: 'Shorten the prompt, lower maxTokens or raise contextSize.' },
    );
  }
}
