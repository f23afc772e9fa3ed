/**
 * Drives a backend with the pattern of the current LED state. A state change
 * takes effect at once: the new pattern starts from its first step. Writes
 * happen only when the level changes, one at a time, latest level wins.
 */
import { EventEmitter } from 'node:events';
import type { LedBackend } from './backend.ts';
import { type LedClock, systemClock } from './clock.ts';
import { LedError } from './errors.ts';
import { type LedPattern, levelAt, msUntilLevelChange } from './pattern.ts';
import { LED_PATTERNS } from './patterns.ts';
import { type AgentStatus, type LedState, ledStateOf, ledStateValidUntil } from './state.ts';

export interface LedControllerOptions {
  backend: LedBackend;
  clock?: LedClock;
  /** Shown until the first `update()`; default `booting`. */
  initialState?: LedState;
  /** Pattern per state; default `LED_PATTERNS`. */
  patterns?: Readonly<Record<LedState, LedPattern>>;
}

/** What the local web page needs to mirror the LED. */
export interface LedSnapshot {
  state: LedState;
  pattern: LedPattern;
  /** When the current pattern started (ms since epoch; its phase is `now - since`); null while stopped. */
  since: number | null;
  /** The level last written to the LED. */
  level: boolean;
  backend: string;
  running: boolean;
  /** The last failed write, cleared by the next good one. */
  lastError: LedError | null;
}

export interface LedControllerEvents {
  state: [LedSnapshot];
  level: [boolean];
  /** A write to the LED failed; the next level change tries again. */
  writeFailed: [LedError];
}

export class LedController extends EventEmitter<LedControllerEvents> {
  readonly #backend: LedBackend;
  readonly #clock: LedClock;
  readonly #patterns: Readonly<Record<LedState, LedPattern>>;
  #state: LedState;
  #since: number | null = null;
  #status: AgentStatus | null = null;
  #running = false;
  #cancelStep: (() => void) | null = null;
  #cancelExpiry: (() => void) | null = null;
  /** Level the pattern asks for; `written` is what the LED shows (undefined: unknown). */
  #desired = false;
  #written: boolean | undefined = false;
  #pump: Promise<void> = Promise.resolve();
  #pumping = false;
  #lastError: LedError | null = null;

  constructor(options: LedControllerOptions) {
    super();
    this.#backend = options.backend;
    this.#clock = options.clock ?? systemClock;
    this.#patterns = options.patterns ?? LED_PATTERNS;
    this.#state = options.initialState ?? 'booting';
  }

  get state(): LedState {
    return this.#state;
  }

  snapshot(): LedSnapshot {
    return {
      state: this.#state,
      pattern: this.#patterns[this.#state],
      since: this.#since,
      level: this.#written ?? false,
      backend: this.#backend.name,
      running: this.#running,
      lastError: this.#lastError,
    };
  }

  /** Opens the backend and starts showing the current state. Rejects if the LED cannot be opened. */
  async start(): Promise<void> {
    if (this.#running) return;
    await this.#backend.open();
    this.#running = true;
    this.#written = false;
    this.#begin();
    this.#scheduleExpiry();
  }

  /** Stops blinking, turns the LED off and gives it back. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    this.#since = null;
    this.#cancelTimers();
    await this.flush();
    await this.#backend.close();
    this.#written = false;
  }

  /**
   * Feeds a new status; returns the state it maps to. A new state starts its
   * pattern now; the same state keeps its phase.
   */
  update(status: AgentStatus): LedState {
    this.#status = status;
    const state = ledStateOf(status);
    if (state !== this.#state) {
      this.#state = state;
      if (this.#running) this.#begin();
    }
    this.#scheduleExpiry();
    return state;
  }

  /** Resolves once every requested level has been written (or failed). */
  async flush(): Promise<void> {
    while (this.#pumping) await this.#pump;
  }

  #begin(): void {
    this.#since = this.#clock.now();
    this.#step();
    this.emit('state', this.snapshot());
  }

  /** Shows the level for the pattern's current phase and waits for its next change. */
  #step(): void {
    this.#cancelStep?.();
    this.#cancelStep = null;
    const since = this.#since;
    if (!this.#running || since === null) return;
    const pattern = this.#patterns[this.#state];
    const elapsed = this.#clock.now() - since;
    this.#request(levelAt(pattern, elapsed));
    const wait = msUntilLevelChange(pattern, elapsed);
    if (wait !== null) this.#cancelStep = this.#clock.schedule(() => this.#step(), Math.max(1, wait));
  }

  /** Re-evaluates the status when time alone would change the state (end of identify). */
  #scheduleExpiry(): void {
    this.#cancelExpiry?.();
    this.#cancelExpiry = null;
    const status = this.#status;
    if (!this.#running || status === null) return;
    const until = ledStateValidUntil(status);
    if (until === null) return;
    const wait = Math.max(1, until - this.#clock.now());
    this.#cancelExpiry = this.#clock.schedule(() => {
      this.#cancelExpiry = null;
      this.update({ ...status, now: this.#clock.now() });
    }, wait);
  }

  #cancelTimers(): void {
    this.#cancelStep?.();
    this.#cancelExpiry?.();
    this.#cancelStep = null;
    this.#cancelExpiry = null;
  }

  #request(level: boolean): void {
    this.#desired = level;
    if (this.#pumping || this.#written === level) return;
    this.#pumping = true;
    this.#pump = this.#drain();
  }

  /** Writes until the LED shows the latest requested level. Never rejects. */
  async #drain(): Promise<void> {
    try {
      while (this.#running && this.#written !== this.#desired) {
        const level = this.#desired;
        try {
          await this.#backend.set(level);
        } catch (error) {
          this.#written = undefined;
          this.#lastError =
            error instanceof LedError
              ? error
              : new LedError(`cannot write LED ${this.#backend.name}`, { code: 'io-failed', cause: error });
          this.emit('writeFailed', this.#lastError);
          return;
        }
        this.#written = level;
        this.#lastError = null;
        this.emit('level', level);
      }
    } finally {
      // Cleared in the same turn as the last check, so a level requested
      // after it always starts a new drain.
      this.#pumping = false;
    }
  }
}
