/**
 * `npm run bench [-- <name>...] [--quick] [--json <file>]`: runs the named
 * benchmarks (all when none is named), one after another, printing for each
 * what it measures, its method and its figures. `--json` also writes every
 * figure to a file, for comparing runs.
 */
import { writeFile } from 'node:fs/promises';
import { brokerBenchmark } from './broker.ts';
import { demoBenchmark } from './demo.ts';
import { gasBenchmark } from './gas.ts';
import { idleBenchmark } from './idle.ts';
import { machineInfo, Reporter, type Benchmark, type BenchResult } from './harness.ts';
import { inferenceBenchmark } from './inference.ts';
import { intakeBenchmark } from './intake.ts';
import { protocolBenchmark } from './protocol.ts';
import { throughputBenchmark } from './throughput.ts';
import { webEventsBenchmark } from './web-events.ts';

const BENCHMARKS: readonly Benchmark[] = [
  protocolBenchmark,
  brokerBenchmark,
  intakeBenchmark,
  throughputBenchmark,
  idleBenchmark,
  inferenceBenchmark,
  demoBenchmark,
  gasBenchmark,
  webEventsBenchmark,
];

const USAGE = `usage: npm run bench [-- [${BENCHMARKS.map((b) => b.name).join('|')}]... [--quick] [--json <file>]]

${BENCHMARKS.map((b) => `  ${b.name.padEnd(10)} ${b.title}`).join('\n')}

  --quick        fewer, smaller repetitions (a smoke run, not figures to quote)
  --json <file>  also write every figure (median, min, max, n) to <file>`;

interface Arguments {
  names: string[];
  quick: boolean;
  json: string | null;
}

function parseArguments(argv: readonly string[]): Arguments | string {
  const args: Arguments = { names: [], quick: false, json: null };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--quick') args.quick = true;
    else if (arg === '--json') {
      const file = argv[++i];
      if (!file) return '--json needs a file name';
      args.json = file;
    } else if (arg === '--help' || arg === '-h') return '';
    else if (arg.startsWith('-')) return `unknown option ${arg}`;
    else if (!BENCHMARKS.some((b) => b.name === arg)) return `unknown benchmark "${arg}"`;
    else args.names.push(arg);
  }
  return args;
}

async function main(): Promise<void> {
  const parsed = parseArguments(process.argv.slice(2));
  if (typeof parsed === 'string') {
    if (parsed) process.stderr.write(`${parsed}\n\n`);
    process.stderr.write(`${USAGE}\n`);
    process.exitCode = parsed ? 2 : 0;
    return;
  }
  const selected = parsed.names.length > 0 ? BENCHMARKS.filter((b) => parsed.names.includes(b.name)) : BENCHMARKS;

  const controller = new AbortController();
  process.on('SIGINT', () => {
    if (controller.signal.aborted) process.exit(130);
    process.stderr.write('\ninterrupted: stopping the running benchmark and cleaning up (Ctrl-C again to quit at once)\n');
    controller.abort();
  });

  const machine = machineInfo();
  const write = (line: string): void => void process.stdout.write(`${line}\n`);
  write(`MeshChain benchmarks${parsed.quick ? ' (--quick: smoke figures, do not quote)' : ''}`);
  write(`machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.platform}, Node ${machine.node}`);
  write(`load average at start: ${machine.loadAverage} (shared machine: compare medians, mind the ranges)`);

  const results: BenchResult[] = [];
  const started = performance.now();
  for (const bench of selected) {
    if (controller.signal.aborted) break;
    const reporter = new Reporter(bench.name, bench.title, write);
    const benchStarted = performance.now();
    try {
      await bench.run({ quick: parsed.quick, signal: controller.signal }, reporter);
    } catch (error) {
      process.exitCode = 1;
      if (controller.signal.aborted) write('  interrupted: no figures from this benchmark');
      else write(`  FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
    write(`  (${bench.name} took ${((performance.now() - benchStarted) / 1000).toFixed(1)} s)`);
    results.push(reporter.result);
  }
  write(`\nall done in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  if (parsed.json) {
    const document = { date: new Date().toISOString(), quick: parsed.quick, machine, results };
    await writeFile(parsed.json, `${JSON.stringify(document, null, 2)}\n`);
    write(`figures written to ${parsed.json}`);
  }
  if (controller.signal.aborted) process.exitCode = 130;
}

await main();
