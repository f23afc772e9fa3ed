/**
 * Entry point of the worker process that LlamaRuntime forks. It owns
 * llama.cpp, so a GGML abort on a bad model kills this process, not the agent.
 * Requests run one after another; a cancel message stops the running
 * generation at its next token.
 */
import { LlamaEngine } from './engine.ts';
import { GenerationAbortedError, RuntimeError } from './errors.ts';
import {
  isParentMessage,
  type SerializedError,
  type SerializedErrorName,
  type WorkerConfig,
  type WorkerMessage,
  type WorkerRequest,
} from './protocol.ts';

const SERIALIZED_NAMES: ReadonlySet<string> = new Set<SerializedErrorName>([
  'ModelLoadError',
  'ContextOverflowError',
  'InvalidRequestError',
  'AbortError',
  'RuntimeError',
]);

function send(message: WorkerMessage): void {
  process.send?.(message);
}

function serializeError(error: unknown): SerializedError {
  if (error instanceof RuntimeError) {
    const name = SERIALIZED_NAMES.has(error.name) ? (error.name as SerializedErrorName) : 'RuntimeError';
    return { name, shortMessage: error.shortMessage, details: error.details };
  }
  const message = error instanceof Error ? error.message : String(error);
  return { name: 'RuntimeError', shortMessage: `The llama worker failed: ${message}` };
}

function parseConfig(argument: string | undefined): WorkerConfig {
  const parsed: unknown = argument ? JSON.parse(argument) : {};
  const gpu = typeof parsed === 'object' && parsed !== null ? (parsed as { gpu?: unknown }).gpu : undefined;
  return { gpu: gpu === 'auto' ? 'auto' : false };
}

async function execute(engine: LlamaEngine, request: WorkerRequest, signal: AbortSignal): Promise<unknown> {
  if (signal.aborted) throw new GenerationAbortedError('The request was cancelled before it started');
  switch (request.op) {
    case 'load':
      return engine.load(request.params.model);
    case 'generate':
      return engine.generate(request.params.model, request.params.prompt, request.params.settings, signal);
    case 'tokenize':
      return engine.tokenize(request.params.model, request.params.text);
    case 'detokenize':
      return engine.detokenize(request.params.model, request.params.tokens, request.params.lastTokens);
    case 'embed':
      return engine.embed(request.params.model, request.params.texts, request.params.settings, signal);
    case 'score':
      return engine.score(
        request.params.model,
        request.params.promptTokens,
        request.params.claimedTokens,
        request.params.settings,
      );
  }
}

function main(): void {
  if (!process.send) {
    console.error('the llama worker must be started by LlamaRuntime (it talks over an IPC channel)');
    process.exit(2);
  }
  const engine = new LlamaEngine({
    config: parseConfig(process.argv[2]),
    log: (level, message) => send({ kind: 'log', level, message }),
  });
  const running = new Map<number, AbortController>();
  let queue: Promise<void> = Promise.resolve();

  process.on('message', (message: unknown) => {
    if (!isParentMessage(message)) return;
    if (message.kind === 'cancel') {
      running.get(message.id)?.abort();
      return;
    }
    const { request } = message;
    const controller = new AbortController();
    running.set(request.id, controller);
    queue = queue.then(async () => {
      try {
        const result = await execute(engine, request, controller.signal);
        send({ kind: 'result', id: request.id, result });
      } catch (error) {
        send({ kind: 'error', id: request.id, error: serializeError(error) });
      } finally {
        running.delete(request.id);
      }
    });
  });
  // The parent went away: nothing is left to answer to.
  process.on('disconnect', () => process.exit(0));
  send({ kind: 'ready' });
}

main();
