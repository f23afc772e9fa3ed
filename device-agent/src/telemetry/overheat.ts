/** Overheating with hysteresis, so the box does not flap around one threshold. Pure. */
import { TelemetryError } from './errors.ts';
import type { TelemetrySample } from './sample.ts';

export interface OverheatThresholds {
  /** At or above this (°C, CPU or GPU), the box is overheating. */
  hotC: number;
  /** Once overheating, it stays so until the hottest reading is at or below this. */
  coolC: number;
}

export const DEFAULT_OVERHEAT_THRESHOLDS: Readonly<OverheatThresholds> = { hotC: 80, coolC: 70 };

/**
 * Whether the box is overheating after this sample, given whether it was
 * before. Between the two thresholds the previous answer holds; a sample with
 * no temperature at all changes nothing.
 */
export function isOverheating(
  sample: Pick<TelemetrySample, 'cpu' | 'gpu'>,
  thresholds: OverheatThresholds = DEFAULT_OVERHEAT_THRESHOLDS,
  wasOverheating = false,
): boolean {
  const { hotC, coolC } = thresholds;
  if (!Number.isFinite(hotC) || !Number.isFinite(coolC) || coolC >= hotC) {
    throw new TelemetryError('bad overheating thresholds', {
      code: 'invalid-config',
      details: `need finite numbers with coolC below hotC, got hotC=${hotC} coolC=${coolC}`,
    });
  }
  const temps = [sample.cpu.temperatureC, sample.gpu?.temperatureC].filter(
    (t): t is number => typeof t === 'number' && Number.isFinite(t),
  );
  if (temps.length === 0) return wasOverheating;
  const hottest = Math.max(...temps);
  if (hottest >= hotC) return true;
  if (hottest <= coolC) return false;
  return wasOverheating;
}
