/**
 * The IPC protocol between LlamaRuntime (parent) and the worker process.
 * Plain JSON over the fork channel; each request carries an id that its
 * answer repeats. The parent sends one request at a time.
 */
import type {
  EmbedSettings,
  Embeddings,
  Generation,
  GenerationSettings,
  LoadedModel,
  ModelRef,
  ScoreSettings,
  TokenScore,
} from './types.ts';

export interface WorkerOperations {
  load: { params: { model: ModelRef }; result: LoadedModel };
  generate: { params: { model: ModelRef; prompt: string; settings: GenerationSettings }; result: Generation };
  tokenize: { params: { model: ModelRef; text: string }; result: number[] };
  detokenize: {
    params: { model: ModelRef; tokens: number[]; lastTokens?: number[] | undefined };
    result: string;
  };
  score: {
    params: { model: ModelRef; promptTokens: number[]; claimedTokens: number[]; settings: ScoreSettings };
    result: TokenScore[];
  };
  embed: { params: { model: ModelRef; texts: string[]; settings: EmbedSettings }; result: Embeddings };
}

export type OperationName = keyof WorkerOperations;

export type WorkerRequest = {
  [K in OperationName]: { id: number; op: K; params: WorkerOperations[K]['params'] };
}[OperationName];

/** Error classes that cross the process boundary by name. */
export type SerializedErrorName =
  | 'ModelLoadError'
  | 'ContextOverflowError'
  | 'InvalidRequestError'
  | 'AbortError'
  | 'RuntimeError';

export interface SerializedError {
  name: SerializedErrorName;
  shortMessage: string;
  details?: string | undefined;
}

export type ParentMessage =
  | { kind: 'request'; request: WorkerRequest }
  /** Stop the request with this id at its next token; it answers with AbortError. */
  | { kind: 'cancel'; id: number };

export type WorkerLogLevel = 'info' | 'warn' | 'error';

export type WorkerMessage =
  | { kind: 'ready' }
  | { kind: 'result'; id: number; result: unknown }
  | { kind: 'error'; id: number; error: SerializedError }
  | { kind: 'log'; level: WorkerLogLevel; message: string };

/** How the parent configures the worker: passed as its one argv argument, JSON. */
export interface WorkerConfig {
  gpu: false | 'auto';
}

export function isWorkerMessage(value: unknown): value is WorkerMessage {
  if (typeof value !== 'object' || value === null) return false;
  const kind = (value as { kind?: unknown }).kind;
  return kind === 'ready' || kind === 'result' || kind === 'error' || kind === 'log';
}

export function isParentMessage(value: unknown): value is ParentMessage {
  if (typeof value !== 'object' || value === null) return false;
  const kind = (value as { kind?: unknown }).kind;
  return kind === 'request' || kind === 'cancel';
}
