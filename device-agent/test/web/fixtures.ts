/**
 * Realistic snapshots for the web page's tests and screenshots: a Pi-class
 * box with an hour of telemetry every 10 s. Deterministic (seeded), so two
 * runs draw the same charts.
 */
import { LED_PATTERNS, type LedState } from '../../src/led/index.ts';
import type { TelemetrySample } from '../../src/telemetry/index.ts';
import type { WebSnapshot } from '../../src/web/index.ts';
import { random } from './random-json.ts';

export const NODE_ID = 'nd1q8m3v7k2x9c4t6p0w5r8y2h7j3n6f4s9d1';
export const OWNER = '0x52908400098527886E0F7030069857D2E4169EE7'; // an EIP-55 test vector


export function telemetryHistory(end: number, count = 360, intervalMs = 10_000): TelemetrySample[] {
  const rnd = random(7);
  const samples: TelemetrySample[] = [];
  let load = 20;
  let temp = 48;
  for (let i = 0; i < count; i++) {
    const at = end - (count - 1 - i) * intervalMs;
    // Busy in two stretches of the hour, as a box running shards is.
    const busy = (i > 80 && i < 170) || i > 280;
    load += ((busy ? 85 : 12) - load) * 0.25 + (rnd() - 0.5) * 10;
    load = Math.min(100, Math.max(0, load));
    temp += (40 + load * 0.28 - temp) * 0.08 + (rnd() - 0.5) * 0.6;
    samples.push({
      at,
      cpu: { loadPercent: Number(load.toFixed(1)), temperatureC: Number(temp.toFixed(1)) },
      memory: { usedBytes: Math.round((busy ? 5.1e9 : 2.3e9) + rnd() * 2e8), totalBytes: 8_000_000_000 },
      disk: { path: '/var/lib/meshnode', usedBytes: 11.2e9, totalBytes: 31.9e9, availableBytes: 19.1e9 },
      network: { rxBytesPerSec: Math.round(2000 + rnd() * 30_000), txBytesPerSec: Math.round(1000 + rnd() * 8000) },
      uptimeSec: 3 * 86_400 + 4 * 3600 + Math.round((at - end) / 1000) + 3600,
      throttling: {
        raw: 0,
        underVoltage: false,
        frequencyCapped: false,
        throttled: false,
        softTemperatureLimit: false,
        underVoltageOccurred: false,
        frequencyCappedOccurred: false,
        throttledOccurred: false,
        softTemperatureLimitOccurred: false,
      },
      gpu: null,
    });
  }
  return samples;
}

export function ledOf(state: LedState): WebSnapshot['led'] {
  const pattern = LED_PATTERNS[state];
  return { on: pattern[0]?.on ?? false, pattern };
}

/** A box that is idle, online and claimed, with the given changes. */
export function sampleSnapshot(overrides: Partial<WebSnapshot> = {}, now = Date.now()): WebSnapshot {
  const history = telemetryHistory(now);
  return {
    nodeId: NODE_ID,
    agentVersion: '0.1.0',
    os: { platform: 'linux', release: '6.6.51-v8+', arch: 'arm64', hostname: 'meshnode-4f2a' },
    state: 'idle',
    led: ledOf('idle'),
    connectivity: { connected: true, broker: 'mqtts://mesh.example.net:8883', since: now - 3 * 3600_000 - 12 * 60_000 },
    owner: OWNER,
    current: null,
    work: { shards: 1284, tokens: 3_417_902, rejected: 3 },
    earnings: null,
    telemetry: { latest: history[history.length - 1] ?? null, history },
    update: { status: 'idle', version: null, detail: null },
    logs: [
      { ts: now - 300_000, level: 'info', msg: 'connected to mqtts://mesh.example.net:8883' },
      { ts: now - 240_000, level: 'info', msg: 'shard sh_7f3a (job jb_19c2) done: 8 inputs, 1024 tokens in 41.7 s' },
      { ts: now - 120_000, level: 'warn', msg: 'result for shard sh_7f3a acknowledged after 2 retries' },
      { ts: now - 30_000, level: 'info', msg: 'model 3f9c…e1 cached (412 MB)' },
    ],
    ...overrides,
  };
}

/** A shard in progress, for `current`. */
export function workingShard(now = Date.now()): NonNullable<WebSnapshot['current']> {
  return { jobId: 'jb_19c2e4', shardId: 'sh_8b41d0', inputs: 8, done: 5, startedAt: now - 95_000, tokensPerSecond: 24.6 };
}
