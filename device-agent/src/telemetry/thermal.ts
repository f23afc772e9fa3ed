/** CPU temperature from the kernel's thermal zones. */
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface ThermalZone {
  /** Directory, e.g. /sys/class/thermal/thermal_zone0. */
  path: string;
  /** e.g. `cpu-thermal` (Raspberry Pi), `CPU-therm` (Jetson), `x86_pkg_temp`. */
  type: string;
}

/** The zone that best stands for the CPU, or null. Pure. */
export function pickCpuZone(zones: readonly ThermalZone[]): ThermalZone | null {
  const rank = (type: string): number => {
    const t = type.toLowerCase();
    if (t.includes('cpu')) return 0;
    if (t === 'x86_pkg_temp') return 1;
    if (t.includes('soc')) return 2;
    if (t.includes('gpu') || t.includes('pmic') || t.includes('battery') || t.includes('wifi')) return 4;
    return 3;
  };
  let best: ThermalZone | null = null;
  for (const zone of zones) if (best === null || rank(zone.type) < rank(best.type)) best = zone;
  return best;
}

/** Millidegrees as written in a zone's `temp` file, to °C; null when implausible. */
export function parseZoneTemp(text: string): number | null {
  const milli = Number(text.trim());
  if (!Number.isFinite(milli) || text.trim() === '') return null;
  const celsius = milli / 1000;
  return celsius > -40 && celsius < 150 ? Math.round(celsius * 10) / 10 : null;
}

/** The thermal zones under `root`; empty when there are none. */
export async function listThermalZones(root: string): Promise<ThermalZone[]> {
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return [];
  }
  const zones = await Promise.all(
    names
      .filter((name) => name.startsWith('thermal_zone'))
      .sort()
      .map(async (name) => {
        const path = join(root, name);
        try {
          return { path, type: (await readFile(join(path, 'type'), 'utf8')).trim() };
        } catch {
          return null;
        }
      }),
  );
  return zones.filter((zone) => zone !== null);
}

export async function readZoneTemp(zone: ThermalZone): Promise<number | null> {
  return parseZoneTemp(await readFile(join(zone.path, 'temp'), 'utf8'));
}

export interface CpuTemperatureReaderOptions {
  /** Default /sys/class/thermal. */
  root: string;
  /** Asked once when the box has no thermal zones (e.g. systeminformation's sensors probe). */
  fallback: () => Promise<number | null>;
}

/**
 * Reads the CPU zone found on the first call (zones do not change while the
 * box runs; a failed read looks again next time). Without zones, asks the
 * fallback once and remembers a null answer, so a box without sensors spends
 * nothing on them.
 */
export function createCpuTemperatureReader(options: CpuTemperatureReaderOptions): () => Promise<number | null> {
  let zone: ThermalZone | null = null;
  let fallbackAnswered = false;
  return async () => {
    if (zone === null) zone = pickCpuZone(await listThermalZones(options.root));
    if (zone !== null) {
      try {
        return await readZoneTemp(zone);
      } catch (error) {
        zone = null;
        throw error;
      }
    }
    if (fallbackAnswered) return null;
    const celsius = await options.fallback();
    const value = typeof celsius === 'number' && Number.isFinite(celsius) ? celsius : null;
    if (value === null) fallbackAnswered = true;
    return value;
  };
}
