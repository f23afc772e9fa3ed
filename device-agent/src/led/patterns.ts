/**
 * The pattern of each LED state. Owners read these in device-agent/docs/led.md;
 * a test keeps that table equal to this one.
 */
import type { LedPattern } from './pattern.ts';
import type { LedState } from './state.ts';

const on = (ms: number) => ({ on: true, ms }) as const;
const off = (ms: number) => ({ on: false, ms }) as const;

export const LED_PATTERNS: Readonly<Record<LedState, LedPattern>> = {
  /** Rapid flashing, unlike anything else, so the owner spots the box. */
  identify: [on(80), off(80)],
  /** Mostly on with a short gap: busy, do not unplug. */
  updating: [on(1800), off(200)],
  /** Fast blink: something is wrong, look at the web page. */
  error: [on(150), off(150)],
  /** Three blinks, then a pause: too hot. */
  overheating: [on(200), off(200), on(200), off(200), on(200), off(1400)],
  /** Steady on while the agent starts or stops. */
  booting: [on(1000)],
  /** Two blinks, then a pause: no link to the network. */
  offline: [on(200), off(200), on(200), off(1400)],
  /** Slow blink: waiting for its owner to claim it. */
  unclaimed: [on(1000), off(1000)],
  /** Heartbeat: a double beat each second, running AI work. */
  working: [on(100), off(150), on(100), off(650)],
  /** A short blip every 3 s: online, claimed, waiting for work. */
  idle: [on(100), off(2900)],
};
