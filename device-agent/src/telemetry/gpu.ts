/** GPU readings: from systeminformation's controllers and from nvidia-smi. Pure. */
import type { GpuSample } from './sample.ts';

/** The fields of a systeminformation graphics controller used here. */
export interface GraphicsControllerLike {
  model?: string;
  name?: string;
  /** MB, may be null. */
  vram?: number | null;
  /** MiB (from nvidia-smi). */
  memoryTotal?: number;
  memoryUsed?: number;
  utilizationGpu?: number;
  temperatureGpu?: number;
}

const MiB = 1024 * 1024;

function finite(value: number | null | undefined): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function mib(value: number | null | undefined): number | null {
  const v = finite(value);
  return v === null ? null : Math.round(v * MiB);
}

function labelOf(c: GraphicsControllerLike): string {
  return c.name?.trim() || c.model?.trim() || '';
}

/** The first named controller, preferring one that reports live figures; null if none. */
export function gpuFromControllers(controllers: readonly GraphicsControllerLike[]): GpuSample | null {
  const named = controllers.filter((c) => labelOf(c) !== '');
  const chosen = named.find((c) => finite(c.utilizationGpu) !== null) ?? named[0];
  if (!chosen) return null;
  const name = labelOf(chosen);
  return {
    name,
    utilizationPercent: finite(chosen.utilizationGpu),
    memoryUsedBytes: mib(chosen.memoryUsed),
    memoryTotalBytes: mib(chosen.memoryTotal) ?? mib(chosen.vram),
    temperatureC: finite(chosen.temperatureGpu),
  };
}

/** The arguments for the live figures that `parseNvidiaSmi` reads. */
export const NVIDIA_SMI_ARGS = [
  '--query-gpu=utilization.gpu,memory.used,memory.total,temperature.gpu',
  '--format=csv,noheader,nounits',
] as const;

export type GpuLive = Omit<GpuSample, 'name'>;

/** Parses the first line of `nvidia-smi` output for `NVIDIA_SMI_ARGS`; "[N/A]" fields become null. */
export function parseNvidiaSmi(text: string): GpuLive | null {
  const line = text.split('\n').find((l) => l.trim() !== '');
  if (!line) return null;
  const fields = line.split(',').map((f) => {
    const n = Number(f.trim());
    return f.trim() !== '' && Number.isFinite(n) ? n : null;
  });
  if (fields.length < 4) return null;
  const [util, used, total, temp] = fields;
  return {
    utilizationPercent: util ?? null,
    memoryUsedBytes: mib(used),
    memoryTotalBytes: mib(total),
    temperatureC: temp ?? null,
  };
}
