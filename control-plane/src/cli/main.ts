#!/usr/bin/env -S node --import tsx
import { Command, Option } from 'commander';
import { readFile, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { MeshBroker } from '@meshchain/broker';
import { ApiClient, ApiError, type JobStatus } from './api-client.ts';
import { readPromptsJsonl } from './inputs.ts';
import { parseTextsJsonl } from '../workloads/embed.ts';
import { ProgressView } from './progress.ts';
import { describeNode } from './describe-node.ts';
import { createLogger } from './logger.ts';
import { loadControlPlaneConfig } from '../config.ts';
import { ControlPlane } from '../control-plane.ts';
import { ControlPlaneError } from '../errors.ts';
import { registerRewardCommands } from '../rewards/cli.ts';
import { registerOtaCommands } from '../ota/cli.ts';
import { loadOrCreateControlPlaneKey } from '../identity/key-file.ts';
import { join } from 'node:path';

const program = new Command('meshchain')
  .description('MeshChain control plane and CLI: submit AI jobs to a fleet of MeshNodes and follow them')
  .option('--api <url>', 'control-plane API URL', process.env.MESHCHAIN_API ?? 'http://127.0.0.1:8080')
  .showHelpAfterError();

function client(): ApiClient {
  const token = process.env.MESHCHAIN_API_TOKEN;
  return new ApiClient(program.opts<{ api: string }>().api, token ? { token } : {});
}

function print(json: boolean, value: unknown, human: () => string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${human()}\n`);
}

program
  .command('serve')
  .description('run the control plane: HTTP API, embedded MQTT broker and orchestrator')
  .option('--config <file>', 'JSON config file')
  .option('--data-dir <dir>', 'state directory (MESHCHAIN_DATA_DIR)')
  .option('--host <host>', 'listen address (MESHCHAIN_HOST)')
  .option('--api-port <port>', 'HTTP API port, 0 = any free port (MESHCHAIN_API_PORT)')
  .option('--mqtt-port <port>', 'MQTT port, 0 = any free port (MESHCHAIN_MQTT_PORT)')
  .addOption(new Option('--enrollment <mode>', 'who may connect (MESHCHAIN_ENROLLMENT)').choices(['open', 'allowlist']))
  .option('--no-chain', 'no rewards: no ledger, no epochs, no chain (MESHCHAIN_CHAIN_ENABLED=false)')
  .option('--json', 'print the ready line as JSON')
  .action(async (options: { config?: string; dataDir?: string; host?: string; apiPort?: string; mqttPort?: string; enrollment?: 'open' | 'allowlist'; chain: boolean; json?: boolean }) => {
    const config = loadControlPlaneConfig({
      ...(options.config ? { file: options.config } : {}),
      env: process.env,
      overrides: {
        dataDir: options.dataDir,
        host: options.host,
        apiPort: options.apiPort,
        mqttPort: options.mqttPort,
        enrollment: options.enrollment,
        chain: options.chain ? undefined : { enabled: false },
      } as Record<string, unknown>,
    });
    const logger = createLogger(config.logLevel, 'meshchain');
    // MESHCHAIN_FAULT is for crash tests only.
    const crashAfterPostSent = process.env.MESHCHAIN_FAULT === 'crash-after-post-sent';
    const controlPlane = new ControlPlane(config, logger, crashAfterPostSent ? { afterPostSent: () => process.kill(process.pid, 'SIGKILL') } : {});
    const info = await controlPlane.start();
    print(Boolean(options.json), { event: 'ready', ...info }, () =>
      [
        'MeshChain control plane ready',
        `  id        ${info.controlPlaneId}`,
        `  api       ${info.apiUrl}`,
        `  mqtt      ${info.mqttUrl}`,
        `  data dir  ${config.dataDir}`,
        info.chain
          ? `  chain     ${info.chain.chainId ?? '?'} at ${info.chain.rpcUrl}${info.chain.devnet ? ' (anvil devnet)' : ''}, distributor ${info.chain.distributor}, token ${info.chain.token ?? '?'}`
          : '  chain     none (rewards disabled)',
        `Nodes join with MESHNODE_CONTROL_PLANE_ID=${info.controlPlaneId} MESHNODE_MQTT_URL=${info.mqttUrl}`,
      ].join('\n'),
    );
    await stopOnSignal(() => controlPlane.stop(), logger);
  });

registerRewardCommands(program, client, print);
registerOtaCommands(program, print);

program
  .command('id')
  .description("print this control plane's id (made on first use): nodes and a standalone broker trust it")
  .option('--data-dir <dir>', 'state directory (MESHCHAIN_DATA_DIR)')
  .action(async (options: { dataDir?: string }) => {
    const config = loadControlPlaneConfig({ env: process.env, overrides: { dataDir: options.dataDir } as Record<string, unknown> });
    const { id } = await loadOrCreateControlPlaneKey(join(config.dataDir, 'control-plane.key.json'));
    process.stdout.write(`${id}\n`);
  });

program
  .command('broker')
  .description('run the MQTT broker alone (the control plane then uses --broker-url / MESHCHAIN_BROKER_URL)')
  .requiredOption('--trust <cpIds...>', 'control-plane ids allowed full access')
  .option('--host <host>', 'listen address', '127.0.0.1')
  .option('--port <port>', 'MQTT port', '1883')
  .addOption(new Option('--enrollment <mode>', 'who may connect').choices(['open', 'allowlist']).default('open'))
  .option('--allow <nodeIds...>', 'node ids allowed in allowlist mode', [])
  .action(async (options: { trust: string[]; host: string; port: string; enrollment: 'open' | 'allowlist'; allow: string[] }) => {
    const logger = createLogger(process.env.MESHCHAIN_LOG_LEVEL ?? 'info', 'meshchain-broker');
    const allowed = new Set(options.allow);
    const broker = new MeshBroker({
      host: options.host,
      port: Number(options.port),
      enrollment: options.enrollment,
      trustedControlPlanes: new Set(options.trust),
      isNodeAllowed: (id) => allowed.has(id),
      logger,
    });
    const { url } = await broker.start();
    process.stdout.write(`MeshChain broker listening on ${url}\n`);
    await stopOnSignal(() => broker.stop(), logger);
  });

const submit = program.command('submit').description('submit a job');
submit
  .command('infer')
  .description('text generation over a JSONL file of prompts')
  .requiredOption('--model <file|sha256>', 'a GGUF file (uploaded if the control plane lacks it) or the sha256 of one it has')
  .requiredOption('--input <prompts.jsonl>', 'one prompt per line: "text" or {"prompt": "text"}')
  .option('--shard-size <n>', 'prompts per shard', '4')
  .option('--max-tokens <n>', 'tokens to generate per prompt', '32')
  .option('--seed <n>', 'sampling seed (recorded; generation is greedy)', '0')
  .option('--context-size <n>', 'context window per sequence', '512')
  .option('--priority <n>', 'fair-share weight, 1–100: a job gets free nodes in proportion to it', '10')
  .option('--wait', 'follow the job until it ends, then print its output')
  .option('--out <file>', 'with --wait: write the output JSONL to a file')
  .option('--json', 'machine-readable output')
  .action(async (options: { model: string; input: string; shardSize: string; maxTokens: string; seed: string; contextSize: string; priority: string; wait?: boolean; out?: string; json?: boolean }) => {
    const api = client();
    const prompts = await readPromptsJsonl(options.input);
    const model = await modelOnControlPlane(api, options.model, Boolean(options.json));
    const { job } = await api.submitJob({
      workload: 'infer',
      model,
      prompts,
      shardSize: int(options.shardSize, '--shard-size'),
      priority: int(options.priority, '--priority'),
      settings: {
        maxTokens: int(options.maxTokens, '--max-tokens'),
        seed: int(options.seed, '--seed'),
        contextSize: int(options.contextSize, '--context-size'),
      },
    });
    await afterSubmit(api, job, 'prompts', options);
  });

submit
  .command('embed')
  .description('batch embeddings over a JSONL file of texts (one vector per text, in input order)')
  .requiredOption('--model <file|sha256>', 'a GGUF file (uploaded if the control plane lacks it) or the sha256 of one it has')
  .requiredOption('--input <texts.jsonl>', 'one text per line: "text" or {"text": "…"}')
  .option('--shard-size <n>', 'texts per shard', '8')
  .option('--context-size <n>', 'context window (the longest text must fit)', '512')
  .option('--priority <n>', 'fair-share weight, 1–100', '10')
  .option('--wait', 'follow the job until it ends, then print its output')
  .option('--out <file>', 'with --wait: write the output JSONL to a file')
  .option('--json', 'machine-readable output')
  .action(async (options: { model: string; input: string; shardSize: string; contextSize: string; priority: string; wait?: boolean; out?: string; json?: boolean }) => {
    const api = client();
    let content: string;
    try {
      content = await readFile(options.input, 'utf8');
    } catch (cause) {
      throw new Error(`cannot read ${options.input}: ${(cause as NodeJS.ErrnoException).code ?? String(cause)}`);
    }
    const texts = parseTextsJsonl(content, options.input);
    const model = await modelOnControlPlane(api, options.model, Boolean(options.json));
    const { job } = await api.submitJob({
      workload: 'embed',
      model,
      texts,
      shardSize: int(options.shardSize, '--shard-size'),
      priority: int(options.priority, '--priority'),
      settings: { contextSize: int(options.contextSize, '--context-size') },
    });
    await afterSubmit(api, job, 'texts', options);
  });

submit
  .command('synthetic')
  .description('a synthetic job that needs no model: each item is echoed back after an optional sleep (tests, benchmarks, simulated fleets)')
  .option('--shards <n>', 'number of shards', '10')
  .option('--items-per-shard <n>', 'items per shard', '1')
  .option('--sleep-ms <n>', 'how long a node sleeps per item', '0')
  .option('--units <n>', 'compute units each item is worth', '1')
  .option('--echo <text>', 'text each item echoes (its index is appended)', 'item')
  .option('--priority <n>', 'fair-share weight, 1–100', '10')
  .option('--wait', 'follow the job until it ends, then print its output')
  .option('--out <file>', 'with --wait: write the output JSONL to a file')
  .option('--json', 'machine-readable output')
  .action(async (options: { shards: string; itemsPerShard: string; sleepMs: string; units: string; echo: string; priority: string; wait?: boolean; out?: string; json?: boolean }) => {
    const api = client();
    const shards = int(options.shards, '--shards');
    const perShard = int(options.itemsPerShard, '--items-per-shard');
    const sleepMs = int(options.sleepMs, '--sleep-ms');
    const units = int(options.units, '--units');
    if (shards < 1 || perShard < 1) throw new Error('--shards and --items-per-shard must be at least 1');
    const items = Array.from({ length: shards * perShard }, (_, i) => ({ echo: `${options.echo} ${i}`, units, ...(sleepMs > 0 ? { sleepMs } : {}) }));
    const { job } = await api.submitJob({ workload: 'synthetic', items, shardSize: perShard, priority: int(options.priority, '--priority') });
    await afterSubmit(api, job, 'items', options);
  });

/** `--model`: the sha256 of a model the control plane has, or a GGUF file uploaded (if it lacks it). */
async function modelOnControlPlane(api: ApiClient, model: string, json: boolean): Promise<string> {
  if (/^[0-9a-f]{64}$/.test(model)) return model;
  if (!existsSync(model)) throw new Error(`--model ${model} is neither a file nor a sha256`);
  const uploaded = await api.uploadModel(model);
  if (!json) process.stderr.write(`model ${uploaded.sha256.slice(0, 12)}… ${uploaded.uploaded ? 'uploaded' : 'already on the control plane'} (${uploaded.size} bytes)\n`);
  return uploaded.sha256;
}

/** After `submit`: print the job id, or with --wait follow the job and print (or write) its output. */
async function afterSubmit(
  api: ApiClient,
  job: { id: string; inputCount: number; shardCount: number },
  noun: string,
  options: { wait?: boolean; out?: string; json?: boolean },
): Promise<void> {
  if (!options.wait) {
    print(Boolean(options.json), { jobId: job.id }, () => job.id);
    return;
  }
  process.stderr.write(`submitted ${job.id}: ${job.inputCount} ${noun} in ${job.shardCount} shards\n`);
  const status = await follow(api, job.id, !options.json);
  if (status.job.state !== 'completed') throw new Error(`job ${job.id} ${status.job.state}: ${status.job.error ?? 'no reason recorded'}`);
  const output = await api.resultText(job.id);
  if (options.out) {
    await writeFile(options.out, output);
    process.stderr.write(`output written to ${options.out}\n`);
  }
  if (options.json) process.stdout.write(`${JSON.stringify({ jobId: job.id, state: status.job.state, manifestRoot: status.job.manifestRoot })}\n`);
  else if (!options.out) process.stdout.write(output);
}

program
  .command('status <job>')
  .description('state, progress and shards of a job')
  .option('--json', 'machine-readable output')
  .action(async (jobId: string, options: { json?: boolean }) => {
    const status = await client().job(jobId);
    print(Boolean(options.json), status, () => {
      const { job, progress } = status;
      const lines = [
        `${job.id}  ${job.state}  ${progress.inputs.completed}/${progress.inputs.total} inputs  ${progress.shards.completed}/${progress.shards.total} shards`,
        job.workload === 'infer'
          ? `model ${job.modelSha256}  max tokens ${job.settings.maxTokens}  shard size ${job.shardSize}`
          : `${job.workload}  shard size ${job.shardSize}`,
      ];
      if (job.error) lines.push(`error: ${job.error}`);
      if (job.manifestRoot) lines.push(`manifest root ${job.manifestRoot}`);
      if (status.trust) {
        const t = status.trust;
        lines.push(`spot checks: ${t.checked} of ${t.results} results recomputed, ${t.failed} failed${t.pending ? `, ${t.pending} pending` : ''}`);
        for (const n of t.nodes) {
          lines.push(`  ${n.nodeId}  ${n.checked}/${n.results} checked  P(caught | falsifies 10%) = ${((n.detection['0.1'] ?? 0) * 100).toFixed(1)}%`);
        }
      }
      for (const s of status.shards) {
        lines.push(`  shard ${String(s.index).padStart(3)}  ${s.state.padEnd(9)} ${s.nodeId ?? '-'}${s.attempts ? `  attempts ${s.attempts}` : ''}${s.lastError ? `  (${s.lastError})` : ''}`);
      }
      return lines.join('\n');
    });
  });

program
  .command('cancel <job>')
  .description('cancel a running job: queued shards are dropped and nodes stop its running shards')
  .option('--reason <text>', 'recorded with the job', 'cancelled by its submitter')
  .option('--json', 'machine-readable output')
  .action(async (jobId: string, options: { reason: string; json?: boolean }) => {
    const cancelled = await client().cancelJob(jobId, options.reason);
    print(Boolean(options.json), cancelled, () =>
      `${cancelled.job.id}  cancelled  ${cancelled.progress.shards.completed}/${cancelled.progress.shards.total} shards had completed; ${cancelled.droppedShards} dropped, ${cancelled.revokedLeases} running shards stopped`,
    );
  });

program
  .command('result <job>')
  .description('the output JSONL of a completed job, in input order')
  .option('--out <file>', 'write to a file instead of stdout')
  .action(async (jobId: string, options: { out?: string }) => {
    const text = await client().resultText(jobId);
    if (options.out) await writeFile(options.out, text);
    else process.stdout.write(text);
  });

program
  .command('jobs')
  .description('recent jobs')
  .option('--json', 'machine-readable output')
  .action(async (options: { json?: boolean }) => {
    const jobs = await client().jobs();
    print(Boolean(options.json), jobs, () =>
      jobs.length === 0
        ? 'no jobs yet; submit one with `meshchain submit infer`'
        : jobs.map((j) => `${j.id}  ${j.state.padEnd(9)} ${j.progress.inputs.completed}/${j.progress.inputs.total} inputs  ${new Date(j.createdAt).toISOString()}`).join('\n'),
    );
  });

const nodesCommand = program.command('nodes').description('the fleet: list, inspect, and find a box');

nodesCommand
  .command('show <node>')
  .description('one node: presence, hardware, work, and its health over the last hour')
  .option('--json', 'machine-readable output')
  .action(async (nodeId: string, options: { json?: boolean }) => {
    const { node, telemetry } = await client().node(nodeId);
    print(Boolean(options.json), { node, telemetry }, () => describeNode(node, telemetry));
  });

nodesCommand
  .command('identify <node>')
  .description('make the box blink its identify pattern so its owner can find it')
  .option('--seconds <n>', 'how long to blink (1-600)', '60')
  .action(async (nodeId: string, options: { seconds: string }) => {
    const answer = await client().identify(nodeId, int(options.seconds, '--seconds'));
    process.stdout.write(
      answer.online
        ? `${nodeId} will blink for ${options.seconds} s\n`
        : `${nodeId} is offline; it will blink if it reconnects within its session\n`,
    );
  });

nodesCommand
  .command('release <node>')
  .description('let a quarantined node take work again (it starts over with every result checked)')
  .action(async (nodeId: string) => {
    await client().release(nodeId);
    process.stdout.write(`${nodeId} released from quarantine\n`);
  });

nodesCommand
  .command('list', { isDefault: true })
  .description('every node seen: presence, hardware and work done')
  .option('--json', 'machine-readable output')
  .action(async (options: { json?: boolean }) => {
    const nodes = await client().nodes();
    print(Boolean(options.json), nodes, () =>
      nodes.length === 0
        ? 'no nodes have connected yet'
        : nodes
            .map((n) => {
              const hw = n.capabilities?.hardware;
              const t = n.telemetry;
              const health = t ? `cpu ${t.cpuPct.toFixed(0)}%${t.cpuC === null ? '' : ` ${t.cpuC.toFixed(0)}°C`}${t.overheating ? ' HOT' : ''}` : 'no telemetry';
              const standing = n.trust?.quarantined ? '  QUARANTINED' : '';
              return `${n.id}  ${n.presence.padEnd(7)}${standing} ${hw ? `${hw.arch} ${hw.cpus} cpu ${(hw.memoryBytes / 2 ** 30).toFixed(1)} GiB` : '-'}  ${health}  agent ${n.capabilities?.agentVersion ?? '-'}  shards ${n.shardsCompleted} ok / ${n.shardsRejected} rejected  tokens ${n.tokensGenerated}`;
            })
            .join('\n'),
    );
  });

async function follow(api: ApiClient, jobId: string, showProgress: boolean): Promise<JobStatus> {
  const view = new ProgressView();
  for (;;) {
    const status = await api.job(jobId);
    if (showProgress) view.update(status);
    if (status.job.state !== 'running') {
      view.done();
      return status;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function int(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new Error(`${flag} must be an integer, got "${value}"`);
  return n;
}

async function stopOnSignal(stop: () => Promise<void>, logger: { info: (msg: string) => void }): Promise<void> {
  await new Promise<void>((resolve) => {
    const handler = (): void => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
      resolve();
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  });
  logger.info('shutting down');
  await stop();
}

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof ApiError) process.stderr.write(`meshchain: ${error.message}\n`);
  else if (error instanceof ControlPlaneError) process.stderr.write(`meshchain: ${error.shortMessage}${error.details ? `\n  ${error.details}` : ''}\n`);
  else process.stderr.write(`meshchain: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
