export { LedError, isLedError, type LedErrorCode, type LedErrorOptions } from './errors.ts';
export {
  LED_PRIORITY,
  LED_STATES,
  ledStateOf,
  ledStateValidUntil,
  type AgentPhase,
  type AgentStatus,
  type LedState,
} from './state.ts';
export {
  assertPattern,
  describePattern,
  isSteady,
  levelAt,
  msUntilLevelChange,
  patternPeriod,
  type LedPattern,
  type LedStep,
} from './pattern.ts';
export { LED_PATTERNS } from './patterns.ts';
export type { LedBackend } from './backend.ts';
export { systemClock, type LedClock } from './clock.ts';
export { GpioLed, type GpioClass, type GpioLedOptions, type GpioPin } from './gpio-led.ts';
export { DEFAULT_LEDS_ROOT, SysfsLed, activeTrigger, type SysfsLedOptions } from './sysfs-led.ts';
export {
  SimulatedLed,
  type LedTransition,
  type SimulatedLedEvents,
  type SimulatedLedOptions,
} from './simulated-led.ts';
export {
  LedController,
  type LedControllerEvents,
  type LedControllerOptions,
  type LedSnapshot,
} from './controller.ts';
