/**
 * What every benchmark shares: repeated measurement, summaries (median and
 * range over repetitions, percentiles over samples) and the printed report.
 * Figures are printed, never asserted: benchmarks are not tests.
 */
import { cpus, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';

export interface BenchOptions {
  /** Fewer and smaller repetitions, for a smoke run. */
  quick: boolean;
  /** Aborted on Ctrl-C: a benchmark stops at its next step and cleans up. */
  signal: AbortSignal;
}

/** Median and range of one figure over its repetitions. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  /** Repetitions (or samples) behind the figure. */
  n: number;
}

export interface Figure {
  name: string;
  unit: string;
  summary: Summary;
  /** A short note printed after the figure (e.g. what a rate includes). */
  note?: string;
}

export interface BenchResult {
  name: string;
  title: string;
  method: string[];
  figures: Figure[];
}

export interface Benchmark {
  name: string;
  title: string;
  run(options: BenchOptions, report: Reporter): Promise<void>;
}

export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, n: 0 };
  const sorted = [...values].sort((a, b) => a - b);
  return { median: percentile(sorted, 50), min: sorted[0] ?? Number.NaN, max: sorted.at(-1) ?? Number.NaN, n: sorted.length };
}

/** Percentile of ascending `sorted` by linear interpolation between closest ranks. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo] ?? Number.NaN;
  const b = sorted[hi] ?? Number.NaN;
  return a + (b - a) * (rank - lo);
}

export function sortedCopy(values: ArrayLike<number>): Float64Array {
  return Float64Array.from(values).sort();
}

export interface RateOptions {
  /** Timed repetitions. */
  reps: number;
  /** Target duration of one repetition, in ms. */
  repMs: number;
  /** Untimed calls before the first repetition (JIT warm-up), by duration. */
  warmupMs: number;
}

/**
 * Calls per second of a synchronous function: warm up for `warmupMs`,
 * size a batch to last about `repMs`, then time `reps` batches.
 * Returns the per-repetition rates.
 */
export function measureRate(fn: (i: number) => void, options: RateOptions): number[] {
  let calls = 0;
  const warmStart = performance.now();
  while (performance.now() - warmStart < options.warmupMs || calls < 10) fn(calls++);
  const perCallMs = Math.max((performance.now() - warmStart) / calls, 1e-6);
  const batch = Math.max(10, Math.round(options.repMs / perCallMs));
  const rates: number[] = [];
  for (let rep = 0; rep < options.reps; rep++) {
    const started = performance.now();
    for (let i = 0; i < batch; i++) fn(i);
    rates.push(batch / ((performance.now() - started) / 1000));
  }
  return rates;
}

/** Collects one benchmark's method lines and figures and prints them as they come. */
export class Reporter {
  readonly result: BenchResult;
  readonly #write: (line: string) => void;

  constructor(name: string, title: string, write: (line: string) => void) {
    this.result = { name, title, method: [], figures: [] };
    this.#write = write;
    this.#write(`\n== ${name}: ${title} ==`);
  }

  method(line: string): void {
    this.result.method.push(line);
    this.#write(`  method: ${line}`);
  }

  /** A figure from repetitions: printed as median [min–max] (n). */
  figure(name: string, unit: string, values: readonly number[] | Summary, note?: string): Summary {
    const summary = 'median' in values ? values : summarize(values);
    this.result.figures.push({ name, unit, summary, ...(note ? { note } : {}) });
    this.#write(`  ${name.padEnd(58)} ${formatSummary(summary, unit)}${note ? `  (${note})` : ''}`);
    return summary;
  }

  note(line: string): void {
    this.#write(`  note: ${line}`);
  }
}

export function formatNumber(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function formatSummary(s: Summary, unit: string): string {
  if (s.n <= 1) return `${formatNumber(s.median)} ${unit}`;
  return `${formatNumber(s.median)} ${unit}  [${formatNumber(s.min)}–${formatNumber(s.max)}, n=${s.n}]`;
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  node: string;
  platform: string;
  loadAverage: string;
}

export function machineInfo(): MachineInfo {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8').split('\n').find((l) => l.startsWith('model name'));
    if (line) cpuModel = line.split(':')[1]?.trim() ?? cpuModel;
  } catch {
    // not Linux: os.cpus() is good enough
  }
  let loadAverage = 'unknown';
  try {
    loadAverage = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    // not Linux
  }
  return {
    cpuModel,
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 1024 ** 3),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    loadAverage,
  };
}

/** Resolves after `ms`; only for letting a process settle before a memory reading, never for synchronisation. */
export function settle(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A promise that rejects after `ms` with a message naming what was awaited. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
