/**
 * The real box as a telemetry source.
 *
 * systeminformation gives memory and GPU discovery, and stands in for the
 * kernel files below where they do not exist (not Linux). Where it would start
 * processes on every sample, the kernel is read directly instead, which gives
 * the same figures without a process per sample and without blocking the
 * event loop: /proc/stat instead of `currentLoad()` (a synchronous
 * `cat /proc/stat | grep cpu` shell on every call), thermal zones instead of
 * `cpuTemperature()` (a synchronous shell and more each call), /proc/net/dev
 * instead of `networkStats()` (seven `cat` per interface per call), statfs on
 * the data directory instead of `fsSize()` (a `df` per call, and no answer for
 * "the filesystem of this path"), and `os.uptime()`.
 */
import { statfs } from 'node:fs/promises';
import { uptime } from 'node:os';
import { type CommandRunner, execFileRunner } from './command.ts';
import { createCpuLoadReader } from './cpu-load.ts';
import { TelemetryError, isSystemError } from './errors.ts';
import type { GraphicsControllerLike } from './gpu.ts';
import { createGpuReader } from './gpu-reader.ts';
import { createNetworkCounterReader } from './network-reader.ts';
import type { Throttling } from './sample.ts';
import type { NetworkCounter, TelemetrySource } from './source.ts';
import { createCpuTemperatureReader } from './thermal.ts';
import { parseThrottled } from './throttling.ts';

/** The part of systeminformation used here; the module itself fits. */
export interface SystemInformationLike {
  currentLoad(): Promise<{ currentLoad: number }>;
  cpuTemperature(): Promise<{ main: number | null }>;
  mem(): Promise<{ total: number; available: number }>;
  networkStats(ifaces: string): Promise<Array<{ iface: string; rx_bytes: number; tx_bytes: number }>>;
  graphics(): Promise<{ controllers: GraphicsControllerLike[] }>;
}

export interface SystemSourceOptions {
  /** Default: the systeminformation module, loaded on first use. */
  si?: SystemInformationLike;
  /** Runs vcgencmd and nvidia-smi; default `execFileRunner`. */
  runCommand?: CommandRunner;
  /** Default 5000 ms. */
  commandTimeoutMs?: number;
  /** Default /proc/stat. */
  procStat?: string;
  /** How long the first CPU load reading measures; default 500 ms. */
  cpuPrimeMs?: number;
  /** Default /sys/class/thermal. */
  thermalRoot?: string;
  /** Default /proc/net/dev. */
  procNetDev?: string;
  /** Default /sys/class/net. */
  netRoot?: string;
}

function finiteOrThrow(value: unknown, what: string): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  throw new TelemetryError(`${what} is not a number`, { code: 'reading-failed', details: `got ${String(value)}` });
}

/** Creates the source; nothing is read or loaded until a reading is asked for. */
export function createSystemSource(options: SystemSourceOptions = {}): TelemetrySource {
  const runCommand = options.runCommand ?? execFileRunner;
  const timeoutMs = options.commandTimeoutMs ?? 5000;
  let siPromise: Promise<SystemInformationLike> | null = null;
  const si = (): Promise<SystemInformationLike> =>
    (siPromise ??= options.si ? Promise.resolve(options.si) : import('systeminformation').then((m) => m.default));

  const cpuLoad = createCpuLoadReader({
    procStat: options.procStat ?? '/proc/stat',
    primeMs: options.cpuPrimeMs ?? 500,
    fallback: async () => finiteOrThrow((await (await si()).currentLoad()).currentLoad, 'CPU load'),
  });

  const cpuTemperature = createCpuTemperatureReader({
    root: options.thermalRoot ?? '/sys/class/thermal',
    fallback: async () => (await (await si()).cpuTemperature()).main,
  });

  const networkCounters = createNetworkCounterReader({
    procNetDev: options.procNetDev ?? '/proc/net/dev',
    netRoot: options.netRoot ?? '/sys/class/net',
    fallback: async (): Promise<NetworkCounter[]> =>
      (await (await si()).networkStats('*')).map((s) => ({ iface: s.iface, rxBytes: s.rx_bytes, txBytes: s.tx_bytes })),
  });

  const gpu = createGpuReader({
    discover: async () => (await (await si()).graphics()).controllers,
    runCommand,
    timeoutMs,
  });

  let vcgencmdMissing = false;
  const throttling = async (): Promise<Throttling | null> => {
    if (vcgencmdMissing) return null;
    let out: string;
    try {
      out = await runCommand('vcgencmd', ['get_throttled'], { timeoutMs });
    } catch (error) {
      // Not installed (ENOENT), or not runnable by this user (EACCES from spawn,
      // also what a PATH entry this user may not search gives): not a Pi.
      if (isSystemError(error, 'ENOENT') || (isSystemError(error, 'EACCES') && error.syscall?.startsWith('spawn'))) {
        vcgencmdMissing = true;
        return null;
      }
      throw error;
    }
    const parsed = parseThrottled(out);
    if (parsed === null) {
      throw new TelemetryError('vcgencmd get_throttled gave an unexpected answer', {
        code: 'reading-failed',
        details: JSON.stringify(out.slice(0, 200)),
      });
    }
    return parsed;
  };

  return {
    cpuLoad,
    cpuTemperature,
    async memory() {
      const mem = await (await si()).mem();
      const total = finiteOrThrow(mem.total, 'total memory');
      return { totalBytes: total, usedBytes: total - finiteOrThrow(mem.available, 'available memory') };
    },
    async disk(path) {
      const s = await statfs(path);
      return {
        totalBytes: s.blocks * s.bsize,
        usedBytes: (s.blocks - s.bfree) * s.bsize,
        availableBytes: s.bavail * s.bsize,
      };
    },
    networkCounters,
    async uptimeSec() {
      return uptime();
    },
    throttling,
    gpu,
  };
}
