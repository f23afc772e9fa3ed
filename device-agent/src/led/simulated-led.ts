/**
 * An LED in memory: for boxes without one, for the local web page's mirror,
 * and for tests. Records level changes in a bounded list.
 */
import { EventEmitter } from 'node:events';
import type { LedBackend } from './backend.ts';
import { LedError } from './errors.ts';

export interface LedTransition {
  /** ms since epoch. */
  at: number;
  on: boolean;
}

export interface SimulatedLedOptions {
  name?: string;
  /** How many transitions to keep (oldest dropped first); default 256. */
  maxTransitions?: number;
  now?: () => number;
}

export interface SimulatedLedEvents {
  change: [LedTransition];
}

export class SimulatedLed extends EventEmitter<SimulatedLedEvents> implements LedBackend {
  readonly name: string;
  readonly #max: number;
  readonly #now: () => number;
  readonly #transitions: LedTransition[] = [];
  #open = false;
  #level = false;

  constructor(options: SimulatedLedOptions = {}) {
    super();
    this.name = options.name ?? 'simulated';
    this.#max = options.maxTransitions ?? 256;
    this.#now = options.now ?? Date.now;
    if (!Number.isInteger(this.#max) || this.#max < 1) {
      throw new LedError('maxTransitions must be a positive integer', {
        code: 'invalid-config',
        details: `got ${options.maxTransitions}`,
      });
    }
  }

  /** Whether the LED is lit now. */
  get level(): boolean {
    return this.#level;
  }

  get isOpen(): boolean {
    return this.#open;
  }

  /** Level changes, oldest first. */
  transitions(): LedTransition[] {
    return [...this.#transitions];
  }

  async open(): Promise<void> {
    if (this.#open) return;
    this.#open = true;
    this.#apply(false);
  }

  async set(on: boolean): Promise<void> {
    if (!this.#open) {
      throw new LedError(`LED "${this.name}" is not open`, { code: 'not-open', details: 'call open() first' });
    }
    this.#apply(on);
  }

  async close(): Promise<void> {
    if (!this.#open) return;
    this.#apply(false);
    this.#open = false;
  }

  #apply(on: boolean): void {
    if (on === this.#level) return;
    this.#level = on;
    const transition = { at: this.#now(), on };
    this.#transitions.push(transition);
    if (this.#transitions.length > this.#max) this.#transitions.shift();
    this.emit('change', transition);
  }
}
