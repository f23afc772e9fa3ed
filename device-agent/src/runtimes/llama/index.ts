export { LlamaRuntime, type LlamaRuntimeOptions } from './runtime.ts';
export {
  ContextOverflowError,
  GenerationAbortedError,
  InvalidRequestError,
  isAbortError,
  isRuntimeError,
  ModelLoadError,
  RuntimeError,
  RuntimeStoppedError,
  WorkerCrashedError,
  type RuntimeErrorOptions,
} from './errors.ts';
export type {
  Generation,
  GenerationSettings,
  GenerationTimings,
  LoadedModel,
  ModelRef,
  RuntimeLogger,
  ScoreSettings,
  TokenScore,
} from './types.ts';
