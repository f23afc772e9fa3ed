/** One reading of the box's health, as kept in memory and shown on the web page. */

/** Raspberry Pi firmware flags from `vcgencmd get_throttled`. */
export interface Throttling {
  /** The raw bit field, e.g. 0x50005. */
  raw: number;
  underVoltage: boolean;
  frequencyCapped: boolean;
  throttled: boolean;
  softTemperatureLimit: boolean;
  /** The same four conditions, "has happened since boot". */
  underVoltageOccurred: boolean;
  frequencyCappedOccurred: boolean;
  throttledOccurred: boolean;
  softTemperatureLimitOccurred: boolean;
}

export interface GpuSample {
  name: string;
  utilizationPercent: number | null;
  memoryUsedBytes: number | null;
  memoryTotalBytes: number | null;
  temperatureC: number | null;
}

export interface DiskUsage {
  usedBytes: number;
  totalBytes: number;
  /** What an unprivileged process can still write (excludes the root reserve). */
  availableBytes: number;
}

export interface TelemetrySample {
  /** When the sample was taken, ms since epoch. */
  at: number;
  cpu: {
    /** Busy share of all cores since the previous sample, 0–100. */
    loadPercent: number;
    /** null where the box reports no CPU temperature. */
    temperatureC: number | null;
  };
  memory: { usedBytes: number; totalBytes: number };
  /** The filesystem holding the agent's data directory; null if it cannot be read. */
  disk: (DiskUsage & { path: string }) | null;
  /** Physical interfaces, averaged since the previous sample; null on the first sample. */
  network: { rxBytesPerSec: number; txBytesPerSec: number } | null;
  /** Seconds since the box booted. */
  uptimeSec: number;
  /** null where `vcgencmd` is absent (anything but a Raspberry Pi). */
  throttling: Throttling | null;
  /** null where no GPU is reported. */
  gpu: GpuSample | null;
}
