/**
 * demo: wall time of the whole `npm run demo` as a user runs it (npm, tsx,
 * the control plane, three agents, the job, the shutdown), spawned as a
 * child process group so that it can be stopped whole.
 */
import { spawn } from 'node:child_process';
import { REPO_ROOT } from '../fleet/processes.ts';
import type { BenchOptions, Benchmark, Reporter } from './harness.ts';

const TIMEOUT_MS = 180_000;

interface DemoRun {
  wallMs: number;
  /** The demo's own figures, from its last line ("done. job X s, demo Y s"); null if it no longer prints them. */
  jobMs: number | null;
  demoMs: number | null;
}

function runDemo(signal: AbortSignal): Promise<DemoRun> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    // detached: the demo runs in its own process group, so a stop reaches npm, tsx and every agent.
    const child = spawn('npm', ['run', 'demo'], { cwd: REPO_ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    const stderr: string[] = [];
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr.push(chunk);
      if (stderr.length > 200) stderr.shift();
    });

    let killTimer: NodeJS.Timeout | undefined;
    const stopGroup = (why: string): void => {
      if (child.pid === undefined || child.exitCode !== null) return;
      stderr.push(`\n[bench] stopping the demo: ${why}\n`);
      // SIGINT first: the demo's handler stops its network and removes its temp dir.
      try {
        process.kill(-child.pid, 'SIGINT');
      } catch {
        return;
      }
      killTimer = setTimeout(() => {
        try {
          if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }, 15_000);
    };
    const timeout = setTimeout(() => stopGroup(`it ran past ${TIMEOUT_MS / 1000} s`), TIMEOUT_MS);
    const onAbort = (): void => stopGroup('interrupted');
    signal.addEventListener('abort', onAbort, { once: true });

    child.once('error', reject);
    child.once('close', (code, exitSignal) => {
      const wallMs = performance.now() - started;
      clearTimeout(timeout);
      clearTimeout(killTimer);
      signal.removeEventListener('abort', onAbort);
      const done = /done\. job ([\d.]+) s, demo ([\d.]+) s/.exec(stdout);
      if (code !== 0) {
        const tail = stderr.join('').split('\n').slice(-15).join('\n');
        reject(new Error(`npm run demo ended with ${exitSignal ?? `exit code ${String(code)}`}\n${tail}`));
        return;
      }
      resolve({ wallMs, jobMs: done ? Number(done[1]) * 1000 : null, demoMs: done ? Number(done[2]) * 1000 : null });
    });
  });
}

async function run(options: BenchOptions, report: Reporter): Promise<void> {
  const runs = options.quick ? 1 : 3;
  report.method(
    `spawns \`npm run demo\` in the repository root ${runs} time(s), one after another (its own process group, stdout captured); wall = spawn → exit; the demo's own "job" (submit → completed) and "demo" (inside its process) figures are read from its last line`,
  );
  const results: DemoRun[] = [];
  for (let i = 0; i < runs; i++) {
    options.signal.throwIfAborted();
    results.push(await runDemo(options.signal));
  }
  report.figure('npm run demo, wall time (spawn → exit)', 's', results.map((r) => r.wallMs / 1000));
  const demoMs = results.flatMap((r) => (r.demoMs === null ? [] : [r.demoMs / 1000]));
  const jobMs = results.flatMap((r) => (r.jobMs === null ? [] : [r.jobMs / 1000]));
  if (demoMs.length === results.length && jobMs.length === results.length) {
    report.figure('  of which the demo process reports (model → shutdown)', 's', demoMs);
    report.figure('  of which the job (24 prompts, 6 shards, 3 nodes)', 's', jobMs);
  } else {
    report.note('the demo did not print its "done. job X s, demo Y s" line: only the wall time is reported');
  }
}

export const demoBenchmark: Benchmark = {
  name: 'demo',
  title: 'wall time of the whole `npm run demo`',
  run,
};
