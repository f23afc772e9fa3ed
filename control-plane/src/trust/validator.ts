import type { GenerationSettings, InferOutput, PromptInput } from '@meshchain/protocol';
import { LlamaRuntime, type ModelRef } from '@meshchain/device-agent/runtimes/llama';
import type { Logger } from 'pino';
import { verifyInferOutput, type Verification } from './verify-infer.ts';

export interface ShardCheck {
  model: ModelRef;
  settings: GenerationSettings;
  inputs: PromptInput[];
  outputs: InferOutput[];
}

export type ShardVerdict =
  | { ok: true; checkedTokens: number; maxGap: number; ms: number }
  | { ok: false; reason: string; checkedTokens: number; maxGap: number; ms: number };

export interface ValidatorOptions {
  logger: Logger;
  tolerance: number;
  threads: number;
  /** Verifications waiting beyond this are refused: the sampler must back off rather than queue without bound. */
  maxQueue: number;
}

/**
 * The control plane's own validator: re-checks a shard's outputs by
 * teacher-forced prefill in a llama worker process of its own, so a model
 * that crashes llama.cpp takes down the worker, never the control plane.
 * One verification at a time; a bounded queue.
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
    const run = this.#queue.then(() => this.#check(shard));
    this.#queue = run.catch(() => undefined);
    return run.finally(() => {
      this.#pending--;
    });
  }

  async stop(): Promise<void> {
    await this.#runtime.stop();
  }

  async #check(shard: ShardCheck): Promise<ShardVerdict> {
    let checkedTokens = 0;
    let maxGap = 0;
    let ms = 0;
    for (const [i, output] of shard.outputs.entries()) {
      const prompt = shard.inputs[i]?.prompt ?? '';
      let verification: Verification;
      try {
        verification = await verifyInferOutput(this.#runtime, shard.model, prompt, output, shard.settings, {
          tolerance: this.#o.tolerance,
          threads: this.#o.threads,
        });
      } catch (error) {
        // The validator failing is not the node's fault: report it, never convict on it.
        throw new Error(`verification of output ${output.index} could not run: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
      }
      checkedTokens += verification.checkedTokens;
      maxGap = Math.max(maxGap, verification.maxGap);
      ms += verification.ms;
      if (!verification.ok) return { ok: false, reason: `output ${output.index}: ${verification.reason}`, checkedTokens, maxGap, ms };
    }
    return { ok: true, checkedTokens, maxGap, ms };
  }
}
