/**
 * Where samples come from. The default reads the real box
 * (`createSystemSource`); tests give a scripted one.
 */
import type { DiskUsage, GpuSample, Throttling } from './sample.ts';

/** Cumulative byte counters of one network interface. */
export interface NetworkCounter {
  iface: string;
  rxBytes: number;
  txBytes: number;
}

export interface TelemetrySource {
  /** Busy share of all cores since the previous call, 0–100. May take a moment on the first call. */
  cpuLoad(): Promise<number>;
  cpuTemperature(): Promise<number | null>;
  memory(): Promise<{ usedBytes: number; totalBytes: number }>;
  /** Usage of the filesystem holding `path`. */
  disk(path: string): Promise<DiskUsage>;
  /** Counters of the interfaces that carry the box's traffic (physical ones). */
  networkCounters(): Promise<NetworkCounter[]>;
  uptimeSec(): Promise<number>;
  throttling(): Promise<Throttling | null>;
  gpu(): Promise<GpuSample | null>;
}
