/** A sample as sent to the control plane: flat, short keys, plain JSON numbers, nulls, never undefined. Pure. */
import type { TelemetrySample } from './sample.ts';

export interface TelemetryWire {
  /** ms since epoch. */
  at: number;
  /** CPU load %, one decimal. */
  cpuPct: number;
  /** CPU °C, one decimal. */
  cpuC: number | null;
  memUsed: number;
  memTotal: number;
  diskUsed: number | null;
  diskTotal: number | null;
  diskAvail: number | null;
  /** Bytes per second, whole. */
  rxBps: number | null;
  txBps: number | null;
  /** Whole seconds since boot. */
  upS: number;
  /** Raspberry Pi `get_throttled` bits. */
  throttled: number | null;
  gpu: {
    name: string;
    pct: number | null;
    memUsed: number | null;
    memTotal: number | null;
    c: number | null;
  } | null;
}

function round1(value: number | null | undefined): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? Math.round(value * 10) / 10 : null;
}

function whole(value: number | null | undefined): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? Math.round(value) : null;
}

export function toTelemetryWire(sample: TelemetrySample): TelemetryWire {
  const { disk, network, gpu } = sample;
  return {
    at: whole(sample.at) ?? 0,
    cpuPct: round1(sample.cpu.loadPercent) ?? 0,
    cpuC: round1(sample.cpu.temperatureC),
    memUsed: whole(sample.memory.usedBytes) ?? 0,
    memTotal: whole(sample.memory.totalBytes) ?? 0,
    diskUsed: whole(disk?.usedBytes),
    diskTotal: whole(disk?.totalBytes),
    diskAvail: whole(disk?.availableBytes),
    rxBps: whole(network?.rxBytesPerSec),
    txBps: whole(network?.txBytesPerSec),
    upS: Math.floor(sample.uptimeSec > 0 && Number.isFinite(sample.uptimeSec) ? sample.uptimeSec : 0),
    throttled: sample.throttling ? sample.throttling.raw : null,
    gpu: gpu
      ? {
          name: gpu.name,
          pct: round1(gpu.utilizationPercent),
          memUsed: whole(gpu.memoryUsedBytes),
          memTotal: whole(gpu.memoryTotalBytes),
          c: round1(gpu.temperatureC),
        }
      : null,
  };
}
