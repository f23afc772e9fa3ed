import { checkShard, LlamaRuntime, type ShardCheck, type ShardVerdict } from '@meshchain/device-agent/runtimes/llama';
import type { Logger } from 'pino';

export type { ShardCheck, ShardVerdict };

export interface ValidatorOptions {
  logger: Logger;
  tolerance: number;
  /** Smallest accepted cosine similarity of a claimed embedding with the recomputed one. */
  minCosine: number;
  threads: number;
  /** Verifications waiting beyond this are refused: the sampler must back off rather than queue without bound. */
  maxQueue: number;
}

/**
 * The control plane's own validator: re-checks a shard's outputs (teacher-
 * forced prefill for inference, recomputation for embeddings) in a llama
 * worker process of its own, so a model that crashes llama.cpp takes down
 * the worker, never the control plane. One verification at a time; a bounded queue.
 */
export class Validator {
  readonly #o: ValidatorOptions;
  readonly #runtime: LlamaRuntime;
  #queue: Promise<unknown> = Promise.resolve();
  #pending = 0;

  constructor(options: ValidatorOptions) {
    this.#o = options;
    this.#runtime = new LlamaRuntime({ logger: options.logger.child({ component: 'validator-runtime' }) });
  }

  get pending(): number {
    return this.#pending;
  }

  /** Null when the queue is full (the caller accepts the result unchecked and says so). */
  check(shard: ShardCheck): Promise<ShardVerdict> | null {
    if (this.#pending >= this.#o.maxQueue) return null;
    this.#pending++;
    // The validator failing is not the node's fault: checkShard throws then, and the caller never convicts on it.
    const run = this.#queue.then(() => checkShard(this.#runtime, shard, { tolerance: this.#o.tolerance, minCosine: this.#o.minCosine, threads: this.#o.threads }));
    this.#queue = run.catch(() => undefined);
    return run.finally(() => {
      this.#pending--;
    });
  }

  async stop(): Promise<void> {
    await this.#runtime.stop();
  }
}
