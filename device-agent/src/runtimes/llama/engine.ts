/**
 * What the worker process runs: one llama.cpp backend, models cached by
 * sha256, and one context + sequence per model, reused while its settings
 * stay the same.
 */
import { getLlama, LlamaLogLevel, type Llama, type LlamaContext, type LlamaContextSequence, type LlamaEmbeddingContext, type LlamaModel, type Token } from 'node-llama-cpp';
import { GenerationAbortedError, InvalidRequestError, ModelLoadError } from './errors.ts';
import { runGeneration } from './generate.ts';
import { GgufFormatError, readGgufHeader } from './gguf-header.ts';
import type { WorkerConfig, WorkerLogLevel } from './protocol.ts';
import { scoreClaim } from './score.ts';
import {
  assertFitsContext,
  assertGenerationSettings,
  assertModelRef,
  assertScoreSettings,
  assertTokenIds,
} from './settings.ts';
import type { EmbedSettings, Embeddings, Generation, GenerationSettings, LoadedModel, ModelRef, ScoreSettings, TokenScore } from './types.ts';

interface Session {
  key: string;
  context: LlamaContext;
  sequence: LlamaContextSequence;
}

interface ModelEntry {
  model: LlamaModel;
  vocabSize: number;
  session: Session | undefined;
  embedding: { key: string; context: LlamaEmbeddingContext } | undefined;
}

export interface EngineOptions {
  config: WorkerConfig;
  log: (level: WorkerLogLevel, message: string) => void;
}

const RECENT_LOG_LINES = 8;

function describe(model: ModelRef): string {
  return `${model.path} (sha256 ${model.sha256.slice(0, 12)}…)`;
}

function asTokens(ids: readonly number[]): Token[] {
  return ids as Token[];
}

/** llama.cpp reports through its log asynchronously; let queued lines arrive before reading them. */
function drainLogs(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class LlamaEngine {
  #llama: Promise<Llama> | undefined;
  readonly #models = new Map<string, ModelEntry>();
  readonly #recentLog: string[] = [];

  constructor(private readonly options: EngineOptions) {}

  #backend(): Promise<Llama> {
    this.#llama ??= getLlama({
      gpu: this.options.config.gpu,
      build: 'never',
      progressLogs: false,
      logLevel: LlamaLogLevel.warn,
      logger: (level, message) => this.#onLlamaLog(level, message),
    });
    return this.#llama;
  }

  #onLlamaLog(level: LlamaLogLevel, message: string): void {
    const text = message.trimEnd();
    if (text.length === 0) return;
    this.#recentLog.push(text);
    if (this.#recentLog.length > RECENT_LOG_LINES) this.#recentLog.shift();
    const isError = level === LlamaLogLevel.error || level === LlamaLogLevel.fatal;
    this.options.log(isError ? 'error' : level === LlamaLogLevel.warn ? 'warn' : 'info', text);
  }

  async load(ref: ModelRef): Promise<LoadedModel> {
    const { loadMs, entry } = await this.#entry(ref);
    const { bos, eos } = entry.model.tokens;
    return { loadMs, vocabSize: entry.vocabSize, bosToken: bos === null ? null : Number(bos), eosToken: eos === null ? null : Number(eos) };
  }

  async #entry(ref: ModelRef): Promise<{ entry: ModelEntry; loadMs: number }> {
    assertModelRef(ref);
    const cached = this.#models.get(ref.sha256);
    if (cached) return { entry: cached, loadMs: 0 };

    const started = performance.now();
    let vocabSize: number | undefined;
    try {
      vocabSize = (await readGgufHeader(ref.path)).vocabSize;
    } catch (error) {
      if (error instanceof GgufFormatError) {
        throw new ModelLoadError(`Model ${describe(ref)} is not a usable GGUF file`, {
          details: `${error.message}. Fetch the model again: the file is damaged or not a model.`,
          cause: error,
        });
      }
      throw new ModelLoadError(`Cannot read model file ${describe(ref)}`, {
        details: error instanceof Error ? error.message : String(error),
        cause: error,
      });
    }

    const llama = await this.#backend();
    this.#recentLog.length = 0;
    let model: LlamaModel;
    try {
      model = await llama.loadModel({ modelPath: ref.path });
    } catch (error) {
      await drainLogs();
      throw new ModelLoadError(`llama.cpp could not load model ${describe(ref)}`, {
        details: this.#recentLog.join('\n') || (error instanceof Error ? error.message : String(error)),
        cause: error,
      });
    }
    const entry: ModelEntry = {
      model,
      // Models without a tokenizer vocabulary cannot run text shards anyway.
      vocabSize: vocabSize ?? 0,
      session: undefined,
      embedding: undefined,
    };
    this.#models.set(ref.sha256, entry);
    return { entry, loadMs: performance.now() - started };
  }

  async #session(entry: ModelEntry, settings: ScoreSettings): Promise<LlamaContextSequence> {
    const key = `${settings.contextSize}/${settings.batchSize}/${settings.threads}`;
    if (entry.session?.key === key) return entry.session.sequence;
    // One context per model: a context holds a KV cache sized for its
    // contextSize, too large on small boards to keep several around.
    await entry.session?.context.dispose();
    entry.session = undefined;
    const context = await entry.model.createContext({
      contextSize: settings.contextSize,
      batchSize: settings.batchSize,
      threads: settings.threads,
      sequences: 1,
      // Explicit: logits differ with flash attention on or off, and a validator must match a generator.
      flashAttention: false,
    });
    entry.session = { key, context, sequence: context.getSequence() };
    return entry.session.sequence;
  }

  async generate(ref: ModelRef, prompt: string, settings: GenerationSettings, signal: AbortSignal): Promise<Generation> {
    assertGenerationSettings(settings);
    const { entry, loadMs } = await this.#entry(ref);
    const bos = entry.model.tokens.bos;
    if (settings.addBos && bos === null) {
      throw new InvalidRequestError(`Model ${describe(ref)} has no BOS token; generate with addBos: false`);
    }
    const promptTokens = [...(settings.addBos && bos !== null ? [bos] : []), ...entry.model.tokenize(prompt, false)];
    if (promptTokens.length === 0) throw new InvalidRequestError('The prompt is empty and addBos is false: nothing to evaluate');
    assertFitsContext({
      promptTokens: promptTokens.length,
      newTokens: settings.maxTokens,
      contextSize: settings.contextSize,
      what: 'The generation',
    });
    const sequence = await this.#session(entry, settings);
    return runGeneration({ model: entry.model, sequence, promptTokens, settings, signal, loadMs });
  }

  async score(ref: ModelRef, promptTokens: number[], claimedTokens: number[], settings: ScoreSettings): Promise<TokenScore[]> {
    assertScoreSettings(settings);
    const { entry } = await this.#entry(ref);
    if (promptTokens.length === 0) throw new InvalidRequestError('Scoring needs at least one prompt token');
    assertTokenIds('promptTokens', promptTokens, entry.vocabSize);
    assertTokenIds('claimedTokens', claimedTokens, entry.vocabSize);
    assertFitsContext({
      promptTokens: promptTokens.length,
      newTokens: claimedTokens.length,
      contextSize: settings.contextSize,
      what: 'Scoring',
    });
    const sequence = await this.#session(entry, settings);
    return scoreClaim({ sequence, promptTokens: asTokens(promptTokens), claimedTokens: asTokens(claimedTokens) });
  }

  async embed(ref: ModelRef, texts: string[], settings: EmbedSettings, signal: AbortSignal): Promise<Embeddings> {
    assertScoreSettings(settings);
    const { entry } = await this.#entry(ref);
    const context = await this.#embeddingContext(entry, settings);
    const started = performance.now();
    const vectors: number[][] = [];
    let tokens = 0;
    for (const [i, text] of texts.entries()) {
      if (signal.aborted) throw new GenerationAbortedError('Embedding was aborted', { cause: signal.reason });
      if (text.length === 0) throw new InvalidRequestError(`Text #${i} is empty: nothing to embed`);
      const length = context.calculateInputLength(text);
      assertFitsContext({ promptTokens: length, newTokens: 0, contextSize: settings.contextSize, what: `Embedding text #${i}` });
      tokens += length;
      vectors.push([...(await context.getEmbeddingFor(text)).vector]);
    }
    return { vectors, tokens, ms: performance.now() - started };
  }

  async #embeddingContext(entry: ModelEntry, settings: EmbedSettings): Promise<LlamaEmbeddingContext> {
    const key = `${settings.contextSize}/${settings.batchSize}/${settings.threads}`;
    if (entry.embedding?.key === key) return entry.embedding.context;
    await entry.embedding?.context.dispose();
    entry.embedding = undefined;
    const context = await entry.model.createEmbeddingContext({
      contextSize: settings.contextSize,
      batchSize: settings.batchSize,
      threads: settings.threads,
    });
    entry.embedding = { key, context };
    return context;
  }

  async tokenize(ref: ModelRef, text: string): Promise<number[]> {
    const { entry } = await this.#entry(ref);
    // specialTokens false: text that spells "<s>" stays text, never becomes a control token.
    return [...entry.model.tokenize(text, false)];
  }

  async detokenize(ref: ModelRef, tokens: number[], lastTokens: number[] | undefined): Promise<string> {
    const { entry } = await this.#entry(ref);
    assertTokenIds('tokens', tokens, entry.vocabSize);
    if (lastTokens) assertTokenIds('lastTokens', lastTokens, entry.vocabSize);
    return entry.model.detokenize(asTokens(tokens), false, lastTokens ? asTokens(lastTokens) : undefined);
  }
}
