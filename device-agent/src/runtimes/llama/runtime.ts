/**
 * LlamaRuntime: the agent's (and the validator's) handle on node-llama-cpp.
 * llama.cpp runs in a child process, so a model that makes it abort takes
 * down only that process: pending calls fail with WorkerCrashedError and the
 * next call starts a fresh worker. Calls run one at a time, in order.
 */
import {
  ContextOverflowError,
  GenerationAbortedError,
  InvalidRequestError,
  ModelLoadError,
  RuntimeError,
  RuntimeStoppedError,
  WorkerCrashedError,
} from './errors.ts';
import type { OperationName, SerializedError, WorkerMessage, WorkerOperations, WorkerRequest } from './protocol.ts';
import { assertGenerationSettings, assertModelRef, assertScoreSettings } from './settings.ts';
import type {
  EmbedSettings,
  Embeddings,
  Generation,
  GenerationSettings,
  LoadedModel,
  ModelRef,
  RuntimeLogger,
  ScoreSettings,
  TokenScore,
} from './types.ts';
import type { ModelCache } from '../../models/model-cache.ts';
import { WorkerProcess, type WorkerExit } from './worker-process.ts';

export interface LlamaRuntimeOptions {
  logger?: RuntimeLogger;
  /** Stop the worker after it has been idle this long (frees its memory); the next call restarts it. */
  workerIdleTimeoutMs?: number;
  /** 'auto' lets llama.cpp use a GPU when the box has one; CPU otherwise. */
  gpu?: false | 'auto';
}

/** What the llama workloads' shard runners (infer, embed, verify) need. */
export interface LlamaRunnerOptions {
  runtime: LlamaRuntime;
  models: ModelCache;
  threads: number;
}

interface PendingCall {
  request: WorkerRequest;
  model: ModelRef;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  settled: boolean;
  detachSignal: () => void;
  /** The worker the request went to, once sent. */
  sentTo?: WorkerProcess;
}

const silentLogger: RuntimeLogger = { info: () => {}, warn: () => {}, error: () => {} };

function describe(model: ModelRef): string {
  return `${model.path} (sha256 ${model.sha256.slice(0, 12)}…)`;
}

function deserializeError(error: SerializedError): RuntimeError {
  const options = { details: error.details };
  switch (error.name) {
    case 'ModelLoadError':
      return new ModelLoadError(error.shortMessage, options);
    case 'ContextOverflowError':
      return new ContextOverflowError(error.shortMessage, options);
    case 'InvalidRequestError':
      return new InvalidRequestError(error.shortMessage, options);
    case 'AbortError':
      return new GenerationAbortedError(error.shortMessage, options);
    case 'RuntimeError':
      return new RuntimeError(error.shortMessage, options);
  }
}

function describeExit(exit: WorkerExit): string {
  return exit.signal ? `signal ${exit.signal}` : `exit code ${String(exit.code)}`;
}

export class LlamaRuntime {
  readonly #logger: RuntimeLogger;
  readonly #idleTimeoutMs: number | undefined;
  readonly #gpu: false | 'auto';
  #worker: WorkerProcess | undefined;
  #starting: Promise<WorkerProcess> | undefined;
  /** Bumped by stop(): a worker that finishes starting after it is not adopted. */
  #epoch = 0;
  readonly #queue: PendingCall[] = [];
  #inFlight: PendingCall | undefined;
  #nextId = 1;
  #idleTimer: NodeJS.Timeout | undefined;

  constructor(options: LlamaRuntimeOptions = {}) {
    this.#logger = options.logger ?? silentLogger;
    this.#idleTimeoutMs = options.workerIdleTimeoutMs;
    this.#gpu = options.gpu ?? false;
  }

  /** Starts the worker now rather than on the first call. */
  async start(): Promise<void> {
    await this.#ensureWorker();
    if (!this.#inFlight) this.#becomeIdle();
  }

  async load(model: ModelRef): Promise<LoadedModel> {
    assertModelRef(model);
    return this.#call('load', { model });
  }

  async generate(
    model: ModelRef,
    prompt: string,
    settings: GenerationSettings,
    signal?: AbortSignal,
  ): Promise<Generation> {
    assertModelRef(model);
    assertGenerationSettings(settings);
    return this.#call('generate', { model, prompt, settings }, signal);
  }

  async tokenize(model: ModelRef, text: string): Promise<number[]> {
    assertModelRef(model);
    return this.#call('tokenize', { model, text });
  }

  /**
   * Text of `tokens`. With `lastTokens` (what precedes them, e.g. a
   * generation's promptTokens) it is the text as a continuation, so a leading
   * space that a tokenizer strips at the start of a text is kept.
   */
  async detokenize(model: ModelRef, tokens: number[], lastTokens?: number[]): Promise<string> {
    assertModelRef(model);
    return this.#call('detokenize', { model, tokens, lastTokens });
  }

  /**
   * Teacher-forced check of a claimed generation: the model's view of each
   * claimed token given the prompt and the claimed tokens before it. Use the
   * generator's contextSize/batchSize: logits differ slightly with batchSize.
   */
  async score(
    model: ModelRef,
    promptTokens: number[],
    claimedTokens: number[],
    settings: ScoreSettings,
    signal?: AbortSignal,
  ): Promise<TokenScore[]> {
    assertModelRef(model);
    assertScoreSettings(settings);
    return this.#call('score', { model, promptTokens, claimedTokens, settings }, signal);
  }

  /** Pooled embeddings of `texts`, in order, one call for the whole batch. */
  async embed(model: ModelRef, texts: string[], settings: EmbedSettings, signal?: AbortSignal): Promise<Embeddings> {
    assertModelRef(model);
    assertScoreSettings(settings);
    return this.#call('embed', { model, texts, settings }, signal);
  }

  /** Kills the worker and fails every pending call; a later call starts a new worker. */
  async stop(): Promise<void> {
    this.#epoch++;
    this.#clearIdleTimer();
    const stopped = new RuntimeStoppedError('The llama runtime was stopped');
    const pending = [...(this.#inFlight ? [this.#inFlight] : []), ...this.#queue.splice(0)];
    this.#inFlight = undefined;
    for (const call of pending) this.#settle(call, stopped);
    const worker = this.#worker;
    this.#worker = undefined;
    const starting = this.#starting;
    await worker?.stop();
    // A worker still starting is killed where it is adopted (the epoch moved on).
    await starting?.catch(() => undefined);
  }

  #call<K extends OperationName>(
    op: K,
    params: WorkerOperations[K]['params'],
    signal?: AbortSignal,
  ): Promise<WorkerOperations[K]['result']> {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(new GenerationAbortedError(`${op} was aborted before it started`, { cause: signal.reason }));
        return;
      }
      const id = this.#nextId++;
      const call: PendingCall = {
        // TypeScript cannot tie a generic K to one member of the request union.
        request: { id, op, params } as WorkerRequest,
        model: params.model,
        resolve: resolve as (value: unknown) => void,
        reject,
        settled: false,
        detachSignal: () => {},
      };
      if (signal) {
        const onAbort = (): void => this.#abort(call, signal);
        signal.addEventListener('abort', onAbort, { once: true });
        call.detachSignal = () => signal.removeEventListener('abort', onAbort);
      }
      this.#queue.push(call);
      this.#pump();
    });
  }

  #settle(call: PendingCall, outcome: { error: Error } | { value: unknown } | Error): void {
    if (call.settled) return;
    call.settled = true;
    call.detachSignal();
    if (outcome instanceof Error) call.reject(outcome);
    else if ('error' in outcome) call.reject(outcome.error);
    else call.resolve(outcome.value);
  }

  #abort(call: PendingCall, signal: AbortSignal): void {
    if (call.settled) return;
    this.#settle(call, new GenerationAbortedError(`${call.request.op} was aborted`, { cause: signal.reason }));
    const queued = this.#queue.indexOf(call);
    if (queued >= 0) {
      this.#queue.splice(queued, 1);
      return;
    }
    // In flight: the worker stops at its next token and answers; the slot
    // stays taken until then so the next request never overlaps it.
    if (this.#inFlight === call) this.#worker?.send({ kind: 'cancel', id: call.request.id });
  }

  #pump(): void {
    if (this.#inFlight) return;
    const call = this.#queue.shift();
    if (!call) {
      this.#becomeIdle();
      return;
    }
    this.#inFlight = call;
    this.#clearIdleTimer();
    this.#ensureWorker().then(
      (worker) => {
        if (this.#inFlight !== call) return;
        if (call.settled) {
          // Aborted while the worker was starting: nothing was sent.
          this.#inFlight = undefined;
          this.#pump();
          return;
        }
        worker.setKeepsParentAlive(true);
        call.sentTo = worker;
        worker.send({ kind: 'request', request: call.request });
      },
      (error: unknown) => {
        if (this.#inFlight !== call) return;
        this.#inFlight = undefined;
        const reason = error instanceof Error ? error.message : String(error);
        this.#settle(
          call,
          new RuntimeError(`Could not start the llama worker for ${call.request.op} on model ${describe(call.model)}`, {
            details: reason,
            cause: error,
          }),
        );
        this.#pump();
      },
    );
  }

  #ensureWorker(): Promise<WorkerProcess> {
    if (this.#worker?.alive) return Promise.resolve(this.#worker);
    if (this.#starting) return this.#starting;
    const epoch = this.#epoch;
    const started = performance.now();
    const holder: { worker?: WorkerProcess } = {};
    const starting = WorkerProcess.start(
      { gpu: this.#gpu },
      {
        onMessage: (message) => this.#onMessage(message),
        onStderrLine: (line) => this.#logger.warn({ pid: holder.worker?.pid }, line),
        onExit: (exit) => {
          if (holder.worker) this.#onWorkerExit(holder.worker, exit);
        },
      },
    ).then(
      async (worker) => {
        holder.worker = worker;
        if (this.#starting === starting) this.#starting = undefined;
        if (epoch !== this.#epoch) {
          await worker.stop();
          throw new RuntimeStoppedError('The llama runtime was stopped while its worker was starting');
        }
        this.#worker = worker;
        this.#logger.info(
          { pid: worker.pid, startupMs: Math.round(performance.now() - started) },
          'llama worker started',
        );
        return worker;
      },
      (error: unknown) => {
        if (this.#starting === starting) this.#starting = undefined;
        throw error;
      },
    );
    this.#starting = starting;
    return starting;
  }

  #onMessage(message: Exclude<WorkerMessage, { kind: 'ready' }>): void {
    if (message.kind === 'log') {
      this.#logger[message.level]({ component: 'llama.cpp' }, message.message);
      return;
    }
    const call = this.#inFlight;
    if (!call || call.request.id !== message.id) return;
    this.#inFlight = undefined;
    if (message.kind === 'result') this.#settle(call, { value: message.result });
    else this.#settle(call, { error: deserializeError(message.error) });
    this.#pump();
  }

  #onWorkerExit(worker: WorkerProcess, exit: WorkerExit): void {
    if (this.#worker === worker) {
      this.#worker = undefined;
      this.#clearIdleTimer();
    }
    if (exit.requested) return;

    const how = describeExit(exit);
    this.#logger.error({ pid: worker.pid, code: exit.code, signal: exit.signal }, `llama worker died (${how})`);
    // A worker that dies idle fails nothing: the next call starts another.
    const culprit = this.#inFlight?.sentTo === worker ? this.#inFlight : undefined;
    if (!culprit) return;
    this.#inFlight = undefined;
    const details = exit.stderrTail || undefined;
    const during = `during ${culprit.request.op} of model ${describe(culprit.model)}`;
    this.#settle(culprit, new WorkerCrashedError(`The llama worker crashed (${how}) ${during}`, { details }));
    for (const call of this.#queue.splice(0)) {
      this.#settle(
        call,
        new WorkerCrashedError(
          `The llama worker crashed (${how}) ${during}; ${call.request.op} of model ${describe(call.model)} did not run`,
          { details },
        ),
      );
    }
  }

  /** Nothing to do: let the parent exit if it wants to, and arm the idle stop. */
  #becomeIdle(): void {
    const worker = this.#worker;
    if (!worker) return;
    worker.setKeepsParentAlive(false);
    if (this.#idleTimeoutMs === undefined || this.#idleTimer) return;
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#inFlight || this.#queue.length > 0 || this.#worker !== worker) return;
      this.#worker = undefined;
      this.#logger.info({ pid: worker.pid }, 'stopping idle llama worker');
      void worker.stop();
    }, this.#idleTimeoutMs);
    this.#idleTimer.unref();
  }

  #clearIdleTimer(): void {
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }
}
