export {
  TelemetryError,
  isTelemetryError,
  type TelemetryErrorCode,
  type TelemetryErrorOptions,
} from './errors.ts';
export type { DiskUsage, GpuSample, TelemetrySample, Throttling } from './sample.ts';
export type { NetworkCounter, TelemetrySource } from './source.ts';
export {
  DEFAULT_TELEMETRY_HISTORY_MS,
  DEFAULT_TELEMETRY_INTERVAL_MS,
  TelemetrySampler,
  type TelemetrySamplerEvents,
  type TelemetrySamplerOptions,
  type TelemetrySamplerStats,
} from './sampler.ts';
export { createSystemSource, type SystemInformationLike, type SystemSourceOptions } from './system-source.ts';
export { execFileRunner, type CommandRunner } from './command.ts';
export { DEFAULT_OVERHEAT_THRESHOLDS, isOverheating, type OverheatThresholds } from './overheat.ts';
export { toTelemetryWire, type TelemetryWire } from './wire.ts';
export { networkRates, parseProcNetDev, type CounterReading, type NetworkRates } from './network.ts';
export { parseThrottled } from './throttling.ts';
export {
  NVIDIA_SMI_ARGS,
  gpuFromControllers,
  parseNvidiaSmi,
  type GpuLive,
  type GraphicsControllerLike,
} from './gpu.ts';
export { parseZoneTemp, pickCpuZone, type ThermalZone } from './thermal.ts';
export { RingBuffer } from './ring-buffer.ts';
export { cpuLoadBetween, parseProcStat, type CpuTimes } from './cpu-load.ts';
