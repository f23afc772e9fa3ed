import type { TelemetrySample } from '../telemetry/index.ts';
import type { AgentPhase, AgentStatus as LedInput, LedController, LedSnapshot } from '../led/index.ts';
import type { WebSnapshot } from '../web/index.ts';
import type { WebStatusStore } from '../web/index.ts';

export interface CurrentWork {
  jobId: string;
  shardId: string;
  inputs: number;
  done: number;
  startedAt: number;
  tokensPerSecond: number | null;
}

/**
 * One view of what the agent is doing, for the owner: it feeds the LED
 * state machine and the local web page from the same facts, so the two
 * never disagree. Every setter is synchronous and cheap.
 */
export class StatusHub {
  readonly #web: WebStatusStore;
  readonly #led: LedController;
  readonly #now: () => number;
  #phase: AgentPhase = 'booting';
  #connected = false;
  #owner: string | null = null;
  #working = false;
  #updating = false;
  #overheating = false;
  #error: string | null = null;
  #identifyUntil: number | null = null;

  constructor(web: WebStatusStore, led: LedController, now: () => number = Date.now) {
    this.#web = web;
    this.#led = led;
    this.#now = now;
    // The LED controller decides the state (with its priorities); the page mirrors it.
    led.on('state', (snapshot: LedSnapshot) => web.update({ state: snapshot.state, led: { on: snapshot.level, pattern: snapshot.pattern } }));
  }

  get overheating(): boolean {
    return this.#overheating;
  }

  setPhase(phase: AgentPhase): void {
    this.#phase = phase;
    this.#push();
  }

  setConnected(connected: boolean, broker: string): void {
    if (connected === this.#connected && this.#web.snapshot().connectivity.since !== null) return;
    this.#connected = connected;
    this.#web.update({ connectivity: { connected, broker, since: this.#now() } });
    this.#push();
  }

  setOwner(owner: string | null): void {
    this.#owner = owner;
    this.#web.update({ owner });
    this.#push();
  }

  setCurrent(current: CurrentWork | null): void {
    this.#working = current !== null;
    this.#web.update({ current });
    this.#push();
  }

  setWork(work: WebSnapshot['work']): void {
    this.#web.update({ work });
  }

  setEarnings(earnings: WebSnapshot['earnings']): void {
    this.#web.update({ earnings });
  }

  setTelemetry(latest: TelemetrySample, history: TelemetrySample[], overheating: boolean): void {
    this.#web.update({ telemetry: { latest, history } });
    if (overheating !== this.#overheating) {
      this.#overheating = overheating;
      this.#push();
    }
  }

  setError(error: string | null): void {
    this.#error = error;
    this.#push();
  }

  setUpdating(updating: boolean): void {
    this.#updating = updating;
    this.#push();
  }

  /** An OTA update's progress: the page shows it, and the LED shows "updating" while it downloads, installs or reboots. */
  setUpdate(update: WebSnapshot['update']): void {
    this.#web.update({ update });
    this.setUpdating(update.status === 'downloading' || update.status === 'installing' || update.status === 'rebooting');
  }

  identify(seconds: number): void {
    this.#identifyUntil = this.#now() + seconds * 1000;
    this.#push();
  }

  /** The LED state machine's input. */
  ledInput(): LedInput {
    return {
      phase: this.#phase,
      connected: this.#connected,
      ownerBound: this.#owner !== null,
      working: this.#working,
      updating: this.#updating,
      overheating: this.#overheating,
      error: this.#error,
      identifyUntil: this.#identifyUntil,
      now: this.#now(),
    };
  }

  #push(): void {
    this.#led.update(this.ledInput());
  }
}
