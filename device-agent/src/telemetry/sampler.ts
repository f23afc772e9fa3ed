/**
 * Samples the box on an interval, keeps the latest sample and a bounded
 * history, and tells listeners. A sample is asynchronous (the first CPU load
 * reading alone takes 500 ms) and samples never overlap: a tick that finds
 * the previous sample still running is skipped and counted.
 */
import { EventEmitter } from 'node:events';
import { TelemetryError, isTelemetryError, messageOf } from './errors.ts';
import { type CounterReading, networkRates } from './network.ts';
import { RingBuffer } from './ring-buffer.ts';
import type { TelemetrySample } from './sample.ts';
import type { TelemetrySource } from './source.ts';
import { createSystemSource } from './system-source.ts';

export interface TelemetrySamplerOptions {
  /** The agent's data directory: its filesystem is the one reported. */
  dataDir: string;
  /** Default: the real box (`createSystemSource()`). */
  source?: TelemetrySource;
  /** Default 10 000 ms; at least 1000. */
  intervalMs?: number;
  /** How much history to keep; default one hour. */
  historyMs?: number;
  /**
   * A sample still running after this long fails (`sample-failed`) and frees
   * the next tick; its late readings are dropped. Default: 3 intervals, at least 30 s.
   */
  sampleTimeoutMs?: number;
  /** ms since epoch; default `Date.now`. */
  now?: () => number;
}

export interface TelemetrySamplerEvents {
  sample: [TelemetrySample];
  /** A sample failed (`sample-failed`: nothing recorded) or one optional reading did (`reading-failed`: null in the sample). */
  failure: [TelemetryError];
}

export interface TelemetrySamplerStats {
  samples: number;
  failedSamples: number;
  skippedTicks: number;
  /** How long the last sample took, ms. */
  lastDurationMs: number | null;
}

export const DEFAULT_TELEMETRY_INTERVAL_MS = 10_000;
export const DEFAULT_TELEMETRY_HISTORY_MS = 60 * 60 * 1000;

type Optional = 'cpuTemperature' | 'disk' | 'networkCounters' | 'throttling' | 'gpu';

export class TelemetrySampler extends EventEmitter<TelemetrySamplerEvents> {
  readonly intervalMs: number;
  readonly sampleTimeoutMs: number;
  readonly #dataDir: string;
  readonly #source: TelemetrySource;
  readonly #now: () => number;
  readonly #history: RingBuffer<TelemetrySample>;
  #timer: NodeJS.Timeout | null = null;
  #inFlight: Promise<TelemetrySample> | null = null;
  #latest: TelemetrySample | null = null;
  #lastCounters: CounterReading | null = null;
  #stats: TelemetrySamplerStats = { samples: 0, failedSamples: 0, skippedTicks: 0, lastDurationMs: null };

  constructor(options: TelemetrySamplerOptions) {
    super();
    const intervalMs = options.intervalMs ?? DEFAULT_TELEMETRY_INTERVAL_MS;
    const historyMs = options.historyMs ?? DEFAULT_TELEMETRY_HISTORY_MS;
    if (!Number.isFinite(intervalMs) || intervalMs < 1000) {
      throw new TelemetryError('telemetry interval too short', {
        code: 'invalid-config',
        details: `give at least 1000 ms, got ${intervalMs}`,
      });
    }
    if (!Number.isFinite(historyMs) || historyMs < 0) {
      throw new TelemetryError('bad telemetry history length', { code: 'invalid-config', details: `got ${historyMs}` });
    }
    if (!options.dataDir) {
      throw new TelemetryError('no data directory for telemetry', {
        code: 'invalid-config',
        details: 'give the agent data directory whose disk usage to report',
      });
    }
    const sampleTimeoutMs = options.sampleTimeoutMs ?? Math.max(30_000, 3 * intervalMs);
    if (!Number.isFinite(sampleTimeoutMs) || sampleTimeoutMs <= 0) {
      throw new TelemetryError('bad telemetry sample timeout', { code: 'invalid-config', details: `got ${sampleTimeoutMs}` });
    }
    this.intervalMs = intervalMs;
    this.sampleTimeoutMs = sampleTimeoutMs;
    this.#dataDir = options.dataDir;
    this.#source = options.source ?? createSystemSource();
    this.#now = options.now ?? Date.now;
    this.#history = new RingBuffer(Math.max(1, Math.ceil(historyMs / intervalMs)));
  }

  get running(): boolean {
    return this.#timer !== null;
  }

  latest(): TelemetrySample | null {
    return this.#latest;
  }

  /** Oldest first, at most `historyMs` worth of samples. */
  history(): TelemetrySample[] {
    return this.#history.toArray();
  }

  stats(): TelemetrySamplerStats {
    return { ...this.#stats };
  }

  /** Starts sampling: the first sample now, in the background, then one per interval. */
  async start(): Promise<void> {
    if (this.#timer) return;
    this.#timer = setInterval(() => this.#tick(), this.intervalMs);
    this.#timer.unref();
    this.#tick();
  }

  /** Stops the interval and waits for a sample in flight, so nothing is emitted after. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#inFlight?.catch(() => {});
  }

  /** Takes a sample now, or joins the one in flight. */
  sampleNow(): Promise<TelemetrySample> {
    // #take runs in a later turn, so its `finally` always comes after this assignment.
    this.#inFlight ??= Promise.resolve().then(() => this.#take());
    return this.#inFlight;
  }

  #tick(): void {
    if (this.#inFlight) {
      this.#stats.skippedTicks += 1;
      return;
    }
    this.sampleNow().catch((error: unknown) => {
      // Failures were reported through `failure`; anything else is a bug
      // (e.g. a throwing listener) and must not be swallowed.
      if (!isTelemetryError(error)) throw error;
    });
  }

  async #take(): Promise<TelemetrySample> {
    try {
      const at = this.#now();
      const s = this.#source;
      // Each reading starts in its own turn, so one that throws synchronously fails alone.
      const read = <T>(fn: () => Promise<T>): Promise<T> => Promise.resolve().then(fn);
      const [load, memory, uptime, temperature, disk, counters, throttling, gpu] = await this.#withDeadline(
        Promise.allSettled([
          read(() => s.cpuLoad()),
          read(() => s.memory()),
          read(() => s.uptimeSec()),
          read(() => s.cpuTemperature()),
          read(() => s.disk(this.#dataDir)),
          read(() => s.networkCounters()),
          read(() => s.throttling()),
          read(() => s.gpu()),
        ]),
      );
      if (load.status === 'rejected' || memory.status === 'rejected' || uptime.status === 'rejected') {
        const failed = [load, memory, uptime].find((r) => r.status === 'rejected');
        const cause: unknown = failed?.status === 'rejected' ? failed.reason : undefined;
        this.#stats.failedSamples += 1;
        const error = new TelemetryError('telemetry sample failed', {
          code: 'sample-failed',
          details: messageOf(cause),
          cause,
        });
        this.emit('failure', error);
        throw error;
      }
      const optional = <T>(name: Optional, result: PromiseSettledResult<T>): T | null => {
        if (result.status === 'fulfilled') return result.value;
        this.emit(
          'failure',
          new TelemetryError(`telemetry reading ${name} failed`, {
            code: 'reading-failed',
            details: messageOf(result.reason),
            cause: result.reason,
          }),
        );
        return null;
      };
      const diskUsage = optional('disk', disk);
      const counterList = optional('networkCounters', counters);
      let network: TelemetrySample['network'] = null;
      if (counterList !== null) {
        const reading = { at, counters: counterList };
        if (this.#lastCounters) network = networkRates(this.#lastCounters, reading);
        this.#lastCounters = reading;
      }
      const sample: TelemetrySample = {
        at,
        cpu: { loadPercent: Math.min(100, Math.max(0, load.value)), temperatureC: optional('cpuTemperature', temperature) },
        memory: { usedBytes: memory.value.usedBytes, totalBytes: memory.value.totalBytes },
        disk: diskUsage ? { path: this.#dataDir, ...diskUsage } : null,
        network,
        uptimeSec: uptime.value,
        throttling: optional('throttling', throttling),
        gpu: optional('gpu', gpu),
      };
      this.#latest = sample;
      this.#history.push(sample);
      this.#stats.samples += 1;
      this.#stats.lastDurationMs = this.#now() - at;
      this.emit('sample', sample);
      return sample;
    } finally {
      this.#inFlight = null;
    }
  }

  async #withDeadline<T>(work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.#stats.failedSamples += 1;
        const error = new TelemetryError('telemetry sample timed out', {
          code: 'sample-failed',
          details: `a reading did not answer within ${this.sampleTimeoutMs} ms`,
        });
        this.emit('failure', error);
        reject(error);
      }, this.sampleTimeoutMs);
      timer.unref();
    });
    try {
      return await Promise.race([work, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }
}
