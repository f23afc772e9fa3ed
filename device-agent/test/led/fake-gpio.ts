/**
 * A stand-in for onoff's `Gpio` class with the same interface, modelling one
 * sysfs GPIO line: `direction` "high"/"low" set the raw level, `activeLow`
 * inverts values, and an unexported pin refuses I/O like a closed file.
 */
import type { BinaryValue, Direction, Edge, Gpio, High, Low, Options, ValueCallback } from 'onoff';

export interface FakePinState {
  pin: number;
  direction: Direction;
  activeLow: boolean;
  /** The electrical level of the pin. */
  raw: BinaryValue;
  exported: boolean;
  writes: number;
}

export interface FakeGpioWorld {
  Gpio: typeof Gpio;
  /** The latest state of each pin ever opened. */
  pins: Map<number, FakePinState>;
}

function closedPinError(pin: number): NodeJS.ErrnoException {
  return Object.assign(new Error(`EBADF: bad file descriptor, gpio${pin}/value`), { code: 'EBADF' });
}

/** A fresh fake with its own pins, so tests share nothing. */
export function makeFakeGpio(options: { accessible?: boolean; constructorError?: NodeJS.ErrnoException } = {}): FakeGpioWorld {
  const pins = new Map<number, FakePinState>();

  class FakeGpio implements Gpio {
    static HIGH: High = 1;
    static LOW: Low = 0;
    static accessible = options.accessible ?? true;
    readonly #s: FakePinState;

    constructor(gpio: number, direction: Direction, _edge?: Edge, opts?: Options) {
      if (options.constructorError) throw options.constructorError;
      this.#s = {
        pin: gpio,
        direction,
        activeLow: opts?.activeLow ?? false,
        raw: direction === 'high' ? 1 : 0,
        exported: true,
        writes: 0,
      };
      pins.set(gpio, this.#s);
    }

    read(callback: ValueCallback): void;
    read(): Promise<BinaryValue>;
    read(callback?: ValueCallback): Promise<BinaryValue> | void {
      let value: BinaryValue = 0;
      let error: Error | null = null;
      try {
        value = this.readSync();
      } catch (e) {
        error = e as Error;
      }
      if (callback) {
        queueMicrotask(() => callback(error, value));
        return;
      }
      return error ? Promise.reject(error) : Promise.resolve(value);
    }

    readSync(): BinaryValue {
      if (!this.#s.exported) throw closedPinError(this.#s.pin);
      return this.#logical(this.#s.raw);
    }

    write(value: BinaryValue, callback: (err: Error | null | undefined) => void): void;
    write(value: BinaryValue): Promise<void>;
    write(value: BinaryValue, callback?: (err: Error | null | undefined) => void): Promise<void> | void {
      let error: Error | null = null;
      try {
        this.writeSync(value);
      } catch (e) {
        error = e as Error;
      }
      if (callback) {
        queueMicrotask(() => callback(error));
        return;
      }
      return error ? Promise.reject(error) : Promise.resolve();
    }

    writeSync(value: BinaryValue): void {
      if (!this.#s.exported) throw closedPinError(this.#s.pin);
      this.#s.raw = this.#logical(value);
      this.#s.writes += 1;
    }

    watch(_callback: ValueCallback): void {}
    unwatch(_callback?: ValueCallback): void {}
    unwatchAll(): void {}

    direction(): Direction {
      return this.#s.direction;
    }

    setDirection(direction: Direction): void {
      this.#s.direction = direction;
      if (direction === 'high') this.#s.raw = 1;
      if (direction === 'low' || direction === 'out') this.#s.raw = 0;
    }

    edge(): Edge {
      return 'none';
    }

    setEdge(_edge: Edge): void {}

    activeLow(): boolean {
      return this.#s.activeLow;
    }

    setActiveLow(invert: boolean): void {
      this.#s.activeLow = invert;
    }

    unexport(): void {
      this.#s.exported = false;
    }

    /** active_low inverts in both directions. */
    #logical(value: BinaryValue): BinaryValue {
      return this.#s.activeLow ? (value === 1 ? 0 : 1) : value;
    }
  }

  return { Gpio: FakeGpio, pins };
}
