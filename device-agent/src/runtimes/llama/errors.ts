/**
 * Errors of the llama runtime. Shaped like viem's: a one-line `shortMessage`
 * for logs and users, optional `details`, and the underlying `cause`.
 */
export interface RuntimeErrorOptions {
  details?: string | undefined;
  cause?: unknown;
}

export class RuntimeError extends Error {
  override name: string = 'RuntimeError';
  readonly shortMessage: string;
  readonly details: string | undefined;

  constructor(shortMessage: string, options: RuntimeErrorOptions = {}) {
    super(options.details ? `${shortMessage}\n\nDetails: ${options.details}` : shortMessage, {
      cause: options.cause,
    });
    this.shortMessage = shortMessage;
    this.details = options.details;
  }
}

/** The model file is missing, not a GGUF file, or llama.cpp refused it. */
export class ModelLoadError extends RuntimeError {
  override name = 'ModelLoadError';
}

/** The worker process died (e.g. SIGABRT from a GGML assert on a bad model). */
export class WorkerCrashedError extends RuntimeError {
  override name = 'WorkerCrashedError';
}

/** Prompt plus requested tokens do not fit the context. */
export class ContextOverflowError extends RuntimeError {
  override name = 'ContextOverflowError';
}

/** Settings or token ids the runtime cannot run with. */
export class InvalidRequestError extends RuntimeError {
  override name = 'InvalidRequestError';
}

/** The runtime was stopped while the call was pending. */
export class RuntimeStoppedError extends RuntimeError {
  override name = 'RuntimeStoppedError';
}

/**
 * The caller's AbortSignal fired. Named 'AbortError' like the platform's own
 * abort errors, so generic `error.name === 'AbortError'` checks treat it as a
 * clean cancellation.
 */
export class GenerationAbortedError extends RuntimeError {
  override name = 'AbortError';
}

export function isRuntimeError(error: unknown): error is RuntimeError {
  return error instanceof RuntimeError;
}

export function isAbortError(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError';
}
