/** A telemetry source whose readings the test decides, and which counts its calls. */
import type { GpuSample, NetworkCounter, TelemetrySource, Throttling } from '../../src/telemetry/index.ts';

export interface Script {
  load: number;
  temperatureC: number | null;
  usedBytes: number;
  totalBytes: number;
  counters: NetworkCounter[];
  uptimeSec: number;
  throttling: Throttling | null;
  gpu: GpuSample | null;
  /** Readings that reject (or throw synchronously, for `throwSync`). */
  fail: Partial<Record<keyof TelemetrySource, Error>>;
  throwSync: Partial<Record<keyof TelemetrySource, Error>>;
  /** When set, cpuLoad waits for it: a slow sample. */
  gate: Promise<void> | null;
}

export class ScriptedSource implements TelemetrySource {
  readonly script: Script = {
    load: 12.5,
    temperatureC: 55,
    usedBytes: 1_000,
    totalBytes: 4_000,
    counters: [{ iface: 'eth0', rxBytes: 0, txBytes: 0 }],
    uptimeSec: 3600,
    throttling: null,
    gpu: null,
    fail: {},
    throwSync: {},
    gate: null,
  };
  readonly calls: Record<keyof TelemetrySource, number> = {
    cpuLoad: 0,
    cpuTemperature: 0,
    memory: 0,
    disk: 0,
    networkCounters: 0,
    uptimeSec: 0,
    throttling: 0,
    gpu: 0,
  };
  diskPaths: string[] = [];

  #reading<T>(name: keyof TelemetrySource, value: () => T): Promise<T> {
    this.calls[name] += 1;
    const sync = this.script.throwSync[name];
    if (sync) throw sync;
    const error = this.script.fail[name];
    return error ? Promise.reject(error) : Promise.resolve(value());
  }

  async cpuLoad(): Promise<number> {
    const gate = this.script.gate;
    const value = await this.#reading('cpuLoad', () => this.script.load);
    if (gate) await gate;
    return value;
  }

  cpuTemperature(): Promise<number | null> {
    return this.#reading('cpuTemperature', () => this.script.temperatureC);
  }

  memory(): Promise<{ usedBytes: number; totalBytes: number }> {
    return this.#reading('memory', () => ({ usedBytes: this.script.usedBytes, totalBytes: this.script.totalBytes }));
  }

  disk(path: string): Promise<{ usedBytes: number; totalBytes: number; availableBytes: number }> {
    this.diskPaths.push(path);
    return this.#reading('disk', () => ({ usedBytes: 10, totalBytes: 100, availableBytes: 85 }));
  }

  networkCounters(): Promise<NetworkCounter[]> {
    return this.#reading('networkCounters', () => this.script.counters.map((c) => ({ ...c })));
  }

  uptimeSec(): Promise<number> {
    return this.#reading('uptimeSec', () => this.script.uptimeSec);
  }

  throttling(): Promise<Throttling | null> {
    return this.#reading('throttling', () => this.script.throttling);
  }

  gpu(): Promise<GpuSample | null> {
    return this.#reading('gpu', () => this.script.gpu);
  }
}

export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = () => {};
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}
