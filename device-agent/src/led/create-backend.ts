import type { AgentConfig } from '../config/config.ts';
import type { LedBackend } from './backend.ts';
import { GpioLed } from './gpio-led.ts';
import { SimulatedLed } from './simulated-led.ts';
import { SysfsLed } from './sysfs-led.ts';
import { LedError } from './errors.ts';

/** The LED backend the config names. Throws a LedError for an incomplete config. */
export function createLedBackend(config: AgentConfig['led']): LedBackend {
  switch (config.backend) {
    case 'simulated':
      return new SimulatedLed();
    case 'sysfs':
      if (!config.sysfsName) throw new LedError('led.sysfsName is required for the sysfs LED backend', { code: 'invalid-config' });
      return new SysfsLed({ name: config.sysfsName, ...(config.sysfsRoot ? { root: config.sysfsRoot } : {}) });
    case 'gpio':
      if (config.gpioPin === null) throw new LedError('led.gpioPin is required for the gpio LED backend', { code: 'invalid-config' });
      return new GpioLed({ pin: config.gpioPin, activeLow: config.activeLow });
  }
}
