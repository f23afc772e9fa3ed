/** CPU load from the kernel's /proc/stat, read asynchronously. */
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { TelemetryError } from './errors.ts';

/** Cumulative jiffies of all cores. */
export interface CpuTimes {
  busy: number;
  total: number;
}

/**
 * Reads the aggregate `cpu` line of /proc/stat: user nice system idle iowait
 * irq softirq steal (guest time is already inside user). Idle and iowait are
 * idle; the rest is busy. Pure.
 */
export function parseProcStat(text: string): CpuTimes | null {
  const line = text.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return null;
  const fields = line.trim().split(/\s+/).slice(1, 9).map(Number);
  if (fields.length < 4 || fields.some((n) => !Number.isFinite(n))) return null;
  const total = fields.reduce((a, b) => a + b, 0);
  const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
  return { busy: total - idle, total };
}

/** Busy share between two readings, 0–100; null when no time passed between them. Pure. */
export function cpuLoadBetween(before: CpuTimes, after: CpuTimes): number | null {
  const total = after.total - before.total;
  if (!(total > 0)) return null;
  const busy = after.busy - before.busy;
  return Math.min(100, Math.max(0, (busy / total) * 100));
}

export interface CpuLoadReaderOptions {
  /** Default /proc/stat. */
  procStat: string;
  /** The first call measures over this long (ms), as there is nothing to compare with yet. */
  primeMs: number;
  /** Used where /proc/stat does not exist (not Linux). */
  fallback: () => Promise<number>;
}

/** Load since the previous call; the first call waits `primeMs` (asynchronously) for a baseline. */
export function createCpuLoadReader(options: CpuLoadReaderOptions): () => Promise<number> {
  let last: CpuTimes | null = null;
  let lastLoad = 0;
  const read = async (): Promise<CpuTimes | null> => {
    let text: string;
    try {
      text = await readFile(options.procStat, 'utf8');
    } catch {
      return null;
    }
    const times = parseProcStat(text);
    if (times === null) {
      throw new TelemetryError(`cannot read CPU times from ${options.procStat}`, {
        code: 'reading-failed',
        details: 'no aggregate "cpu" line',
      });
    }
    return times;
  };
  return async () => {
    let now = await read();
    if (now === null) return options.fallback();
    if (last === null) {
      last = now;
      await sleep(options.primeMs);
      now = (await read()) ?? now;
    }
    const load = cpuLoadBetween(last, now);
    if (load === null) return lastLoad;
    last = now;
    lastLoad = load;
    return load;
  };
}
