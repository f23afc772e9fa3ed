/**
 * An LED on a GPIO pin, through onoff (the kernel's sysfs GPIO interface).
 * onoff is loaded only when the LED is opened, and only if no other `Gpio`
 * class is given, so hosts without GPIO never load its native addon.
 */
import type { BinaryValue, Direction, Edge, Options } from 'onoff';
import type { LedBackend } from './backend.ts';
import { LedError, isSystemError } from './errors.ts';

/** The part of an onoff `Gpio` instance this LED uses. */
export interface GpioPin {
  write(value: BinaryValue): Promise<void>;
  unexport(): void;
}

/** The part of onoff's `Gpio` class this LED uses; a fake with the same shape works in tests. */
export interface GpioClass {
  new (gpio: number, direction: Direction, edge?: Edge, options?: Options): GpioPin;
  readonly accessible: boolean;
}

export interface GpioLedOptions {
  /** The sysfs GPIO number (on recent Raspberry Pi kernels: the chip base plus the BCM number). */
  pin: number;
  /** The LED lights when the pin is low (wired between 3.3 V and the pin). Default false. */
  activeLow?: boolean;
  /** The `Gpio` class to use; default onoff's. */
  Gpio?: GpioClass;
}

async function loadOnoff(): Promise<GpioClass> {
  try {
    return (await import('onoff')).Gpio;
  } catch (error) {
    throw new LedError('cannot load onoff', {
      code: 'gpio-unavailable',
      details: 'its native addon did not load on this host; use the sysfs or simulated LED',
      cause: error,
    });
  }
}

export class GpioLed implements LedBackend {
  readonly name: string;
  readonly #options: GpioLedOptions;
  #pin: GpioPin | null = null;

  constructor(options: GpioLedOptions) {
    if (!Number.isInteger(options.pin) || options.pin < 0) {
      throw new LedError('bad GPIO pin number', {
        code: 'invalid-config',
        details: `give a non-negative integer, got ${options.pin}`,
      });
    }
    this.#options = options;
    this.name = `gpio:${options.pin}${options.activeLow ? ':active-low' : ''}`;
  }

  async open(): Promise<void> {
    if (this.#pin) return;
    const Gpio = this.#options.Gpio ?? (await loadOnoff());
    const { pin } = this.#options;
    const activeLow = this.#options.activeLow ?? false;
    if (!Gpio.accessible) {
      throw new LedError('GPIO is not accessible on this host', {
        code: 'gpio-unavailable',
        details:
          '/sys/class/gpio/export cannot be opened: the kernel has no sysfs GPIO or this user may not use it ' +
          '(add it to the gpio group); otherwise use the sysfs or simulated LED',
      });
    }
    try {
      // "high"/"low" set the raw pin level atomically with the direction, so
      // the LED does not flash on while the pin becomes an output.
      this.#pin = new Gpio(pin, activeLow ? 'high' : 'low', 'none', { activeLow });
      await this.#pin.write(0);
    } catch (error) {
      this.#release();
      throw this.#error(`open GPIO ${pin}`, error);
    }
  }

  async set(on: boolean): Promise<void> {
    const pin = this.#pin;
    if (!pin) {
      throw new LedError(`LED "${this.name}" is not open`, { code: 'not-open', details: 'call open() first' });
    }
    try {
      await pin.write(on ? 1 : 0);
    } catch (error) {
      throw this.#error(`write GPIO ${this.#options.pin}`, error);
    }
  }

  async close(): Promise<void> {
    const pin = this.#pin;
    if (!pin) return;
    try {
      await pin.write(0);
    } catch (error) {
      throw this.#error(`write GPIO ${this.#options.pin}`, error);
    } finally {
      this.#release();
    }
  }

  #release(): void {
    const pin = this.#pin;
    this.#pin = null;
    try {
      pin?.unexport();
    } catch {
      // Unexport fails on some boards (e.g. cape_universal); the pin stays exported and off.
    }
  }

  #error(what: string, error: unknown): LedError {
    if (error instanceof LedError) return error;
    if (isSystemError(error, 'EACCES') || isSystemError(error, 'EPERM')) {
      return new LedError(`no permission to ${what}`, {
        code: 'permission-denied',
        details: 'add the agent user to the gpio group, or use the sysfs or simulated LED',
        cause: error,
      });
    }
    if (isSystemError(error, 'EINVAL') || isSystemError(error, 'EBUSY')) {
      return new LedError(`cannot ${what}`, {
        code: 'invalid-config',
        details: 'the pin does not exist on this board or another driver holds it; check the GPIO number',
        cause: error,
      });
    }
    return new LedError(`cannot ${what}`, {
      code: 'io-failed',
      details: error instanceof Error ? error.message : String(error),
      cause: error,
    });
  }
}
