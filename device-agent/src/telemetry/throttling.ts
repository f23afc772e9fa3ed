/** Raspberry Pi throttling flags, from `vcgencmd get_throttled`. Pure. */
import type { Throttling } from './sample.ts';

/** Parses "throttled=0x50005"; null if the text is not that. */
export function parseThrottled(text: string): Throttling | null {
  const match = /throttled=(0x[0-9a-f]+|\d+)/i.exec(text);
  if (!match?.[1]) return null;
  const raw = Number(match[1]);
  if (!Number.isSafeInteger(raw) || raw < 0) return null;
  const bit = (n: number) => (raw & (1 << n)) !== 0;
  return {
    raw,
    underVoltage: bit(0),
    frequencyCapped: bit(1),
    throttled: bit(2),
    softTemperatureLimit: bit(3),
    underVoltageOccurred: bit(16),
    frequencyCappedOccurred: bit(17),
    throttledOccurred: bit(18),
    softTemperatureLimitOccurred: bit(19),
  };
}
