/** A model file, named by its content hash; the hash is the cache key. */
export interface ModelRef {
  path: string;
  sha256: string;
}

export interface GenerationSettings {
  /** Generate exactly this many tokens unless the model ends the text first. */
  maxTokens: number;
  /** Greedy decoding only, so results can be checked by recomputation. */
  temperature: 0;
  seed: number;
  contextSize: number;
  batchSize: number;
  /** Explicit: llama.cpp's default oversubscribes small boards badly. */
  threads: number;
  /** Prepend the model's BOS token to the prompt tokens. */
  addBos: boolean;
}

export interface GenerationTimings {
  /** Time spent loading the model for this call; 0 when it was already loaded. */
  loadMs: number;
  /** Prompt evaluation up to the first generated token. */
  promptMs: number;
  /** The remaining tokens. */
  generateMs: number;
}

export interface Generation {
  /** Token ids of the prompt as evaluated (BOS included when `addBos`). */
  promptTokens: number[];
  /** Generated token ids; an end-of-generation token is not included. */
  tokens: number[];
  /** `tokens` detokenized as the continuation of `promptTokens`. */
  text: string;
  finishReason: 'length' | 'eos';
  timings: GenerationTimings;
}

export interface LoadedModel {
  /** Wall time of this load in the worker; 0 when it was already loaded. */
  loadMs: number;
  vocabSize: number;
  /** The model's begin- and end-of-sequence tokens, when it has them (a verifier checks an 'eos' finish against the latter). */
  bosToken: number | null;
  eosToken: number | null;
}

/** Settings of an embedding context. Threads do not change the vectors (measured: bitwise equal). */
export type EmbedSettings = Pick<GenerationSettings, 'contextSize' | 'batchSize' | 'threads'>;

export interface Embeddings {
  /** One pooled embedding per text, in order, as llama.cpp returns it (not normalised). */
  vectors: number[][];
  /** Tokens evaluated, over all texts. */
  tokens: number;
  /** Evaluation time, model load excluded. */
  ms: number;
}

/** The settings that decide a context; scoring must use the generator's. */
export type ScoreSettings = Pick<GenerationSettings, 'contextSize' | 'batchSize' | 'threads'>;

/** How the model rates one claimed token after everything before it. */
export interface TokenScore {
  token: number;
  claimedLogit: number;
  maxLogit: number;
  /** The greedy choice at this position. */
  topToken: number;
  /** log softmax of the claimed token. */
  logprob: number;
}

type LogMethod = (fields: Record<string, unknown>, message: string) => void;

/** Pino-compatible: a pino logger (or child) fits. */
export interface RuntimeLogger {
  info: LogMethod;
  warn: LogMethod;
  error: LogMethod;
}
