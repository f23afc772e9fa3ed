#!/usr/bin/env -S node --import tsx
import { Command } from 'commander';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import pretty from 'pino-pretty';
import { Writable } from 'node:stream';
import { Agent } from '../agent.ts';
import { BINDING_FILE, writeBinding } from '../identity/binding.ts';
import { AGENT_VERSION } from '../capabilities.ts';
import { loadAgentConfig } from '../config/config.ts';
import { AgentError } from '../errors.ts';
import { loadOrCreateIdentity } from '../identity/identity.ts';
import { bindingBodySchema } from '@meshchain/protocol';

const program = new Command('meshnode')
  .description('the MeshNode agent: runs AI shards for a MeshChain control plane')
  .version(AGENT_VERSION)
  .option('--config <file>', 'JSON config file (default: $MESHNODE_CONFIG or <data-dir>/config.json)')
  .option('--data-dir <dir>', 'identity, databases and models (MESHNODE_DATA_DIR)')
  .showHelpAfterError();

function dataDir(): string {
  const options = program.opts<{ dataDir?: string }>();
  return options.dataDir ?? process.env.MESHNODE_DATA_DIR ?? '/var/lib/meshnode';
}

program
  .command('start')
  .description('connect to the control plane and run shards until stopped (SIGTERM/SIGINT)')
  .option('--mqtt-url <url>', 'broker URL (MESHNODE_MQTT_URL)')
  .option('--control-plane-id <id>', 'trusted control plane id, cp… (MESHNODE_CONTROL_PLANE_ID)')
  .option('--threads <n>', 'inference threads (MESHNODE_THREADS)')
  .action(async (options: { mqttUrl?: string; controlPlaneId?: string; threads?: string }) => {
    const global = program.opts<{ config?: string; dataDir?: string }>();
    const config = loadAgentConfig({
      ...(global.config ? { file: global.config } : {}),
      env: process.env,
      overrides: { dataDir: global.dataDir, mqttUrl: options.mqttUrl, controlPlaneId: options.controlPlaneId, threads: options.threads },
    });
    // Logs go to stderr (journald on a box) and, from info up, to the local web page.
    let agent: Agent | null = null;
    const toPage = new Writable({
      write(chunk: Buffer, _encoding, done) {
        agent?.logStream.write(chunk);
        done();
      },
    });
    const terminal = process.stderr.isTTY ? pretty({ destination: 2, sync: true, ignore: 'pid,hostname' }) : pino.destination({ dest: 2, sync: true });
    const logger = pino(
      { level: config.logLevel, name: 'meshnode' },
      pino.multistream([
        { stream: terminal, level: config.logLevel === 'silent' ? 'silent' : 'trace' },
        { stream: toPage, level: 'info' },
      ]),
    );
    let restart = (): void => {};
    const stopped = new Promise<'signal' | 'restart'>((resolve) => {
      process.once('SIGTERM', () => resolve('signal'));
      process.once('SIGINT', () => resolve('signal'));
      restart = () => resolve('restart');
    });
    agent = new Agent(config, logger, {
      // MESHNODE_FAULT is for crash tests only.
      faults: { crashAfterOutbox: process.env.MESHNODE_FAULT === 'crash-after-outbox' },
      onRestart: () => restart(),
    });
    const { nodeId, webUrl } = await agent.start();
    process.stdout.write(`${JSON.stringify({ event: 'started', nodeId, webUrl })}\n`);
    const reason = await stopped;
    await agent.stop();
    // On a box, systemd (Restart=always) starts the agent again after a requested restart.
    logger.info(reason === 'restart' ? 'stopped for a restart' : 'stopped');
  });

program
  .command('identity')
  .description('print this node\'s id (made on first use)')
  .option('--json', 'id and public key as JSON')
  .action(async (options: { json?: boolean }) => {
    const identity = await loadOrCreateIdentity(join(dataDir(), 'identity.json'));
    process.stdout.write(options.json ? `${JSON.stringify({ nodeId: identity.nodeId, publicKey: identity.publicKey })}\n` : `${identity.nodeId}\n`);
  });

program
  .command('bind <owner>')
  .description('bind this node to the EVM address that receives its MCP rewards (a running agent publishes it within seconds)')
  .option('--json', 'machine-readable output')
  .action(async (owner: string, options: { json?: boolean }) => {
    const checked = bindingBodySchema.shape.owner.safeParse(owner);
    if (!checked.success) {
      throw new AgentError(`"${owner}" is not an owner address`, { details: checked.error.issues[0]?.message });
    }
    const dir = dataDir();
    const identity = await loadOrCreateIdentity(join(dir, 'identity.json'));
    const body = await writeBinding(dir, owner);
    process.stdout.write(
      options.json
        ? `${JSON.stringify({ nodeId: identity.nodeId, ...body })}\n`
        : `node ${identity.nodeId} bound to ${body.owner} (recorded in ${join(dir, BINDING_FILE)}; the agent signs and publishes it)\n`,
    );
  });

program
  .command('status')
  .description('local state: identity, pending results, recent work')
  .option('--json', 'machine-readable output')
  .action(async (options: { json?: boolean }) => {
    const dir = dataDir();
    const dbPath = join(dir, 'agent.db');
    const identity = existsSync(join(dir, 'identity.json')) ? await loadOrCreateIdentity(join(dir, 'identity.json')) : null;
    const status: Record<string, unknown> = { nodeId: identity?.nodeId ?? null, dataDir: dir };
    if (existsSync(dbPath)) {
      const db = new Database(dbPath, { readonly: true });
      status.pendingResults = (db.prepare('SELECT COUNT(*) AS n FROM outbox').get() as { n: number }).n;
      status.assignments = db.prepare('SELECT state, COUNT(*) AS n FROM assignments GROUP BY state').all();
      status.work = db.prepare('SELECT COUNT(*) AS shards, COALESCE(SUM(tokens), 0) AS tokens FROM work_log').get();
      status.models = db.prepare('SELECT sha256, size FROM models ORDER BY last_used DESC').all();
      db.close();
    }
    if (options.json) process.stdout.write(`${JSON.stringify(status)}\n`);
    else {
      process.stdout.write(
        [
          `node         ${status.nodeId ?? '(no identity yet: run `meshnode start` or `meshnode identity`)'}`,
          `data dir     ${dir}`,
          ...(status.work ? [`work         ${JSON.stringify(status.work)}`, `outbox       ${String(status.pendingResults)} results awaiting ack`, `assignments  ${JSON.stringify(status.assignments)}`] : []),
        ].join('\n') + '\n',
      );
    }
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  const message = error instanceof AgentError ? `${error.shortMessage}${error.details ? `\n  ${error.details}` : ''}` : error instanceof Error ? error.message : String(error);
  process.stderr.write(`meshnode: ${message}\n`);
  process.exitCode = 1;
});
