/**
 * intake: how many results the control plane takes in per second, on its
 * real stores over a real SQLite file: open (verify + schema) the signed
 * result, then ResultIntake.receive in one transaction; redeliveries and
 * duplicates; and Aggregator.completeJob for a large job.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  deriveId,
  encodeMessage,
  generateSeed,
  NodeCryptoSigner,
  openMessage,
  sealMessage,
  toBase64Url,
  topicFor,
  type Envelope,
  type GenerationSettings,
  type PromptInput,
  type ResultBody,
} from '@meshchain/protocol';
import { Aggregator } from '../../../control-plane/src/aggregate/aggregator.ts';
import { ResultIntake } from '../../../control-plane/src/intake/result-intake.ts';
import { JobStore } from '../../../control-plane/src/jobs/job-store.ts';
import type { Job, Shard } from '../../../control-plane/src/jobs/types.ts';
import { ModelStore } from '../../../control-plane/src/models/model-store.ts';
import { NodeStore } from '../../../control-plane/src/nodes/node-store.ts';
import { LeaseStore, type Lease } from '../../../control-plane/src/scheduler/lease-store.ts';
import { DEFAULT_SHARD_RETRY } from '../../../control-plane/src/scheduler/retry.ts';
import { openDatabase, type Db } from '../../../control-plane/src/store/db.ts';
import type { BenchOptions, Benchmark, Reporter } from './harness.ts';
import { inferOutputs, promptInputs, seededRandom } from './samples.ts';

const SHARD_SIZE = 4;
const MAX_TOKENS = 24;
const NODES = 8;
const SETTINGS: GenerationSettings = { maxTokens: MAX_TOKENS, temperature: 0, seed: 1, contextSize: 512, batchSize: 512, addBos: true };

interface FleetNode {
  signer: NodeCryptoSigner;
  id: string;
}

interface Stores {
  db: Db;
  jobs: JobStore;
  nodes: NodeStore;
  leases: LeaseStore;
  intake: ResultIntake;
  aggregator: Aggregator;
}

interface PreparedJob {
  job: Job;
  /** One signed result per shard, encoded as it arrives from MQTT. */
  deliveries: { topic: string; payload: Buffer; nodeId: string }[];
  /** A second, newly sealed result for each shard: a duplicate once the first is in. */
  duplicates: { envelope: Envelope<'result'>; nodeId: string }[];
}

function resultBody(shard: Shard, lease: Lease, modelSha256: string, random: () => number): ResultBody {
  return {
    jobId: shard.jobId,
    shardId: shard.id,
    leaseId: lease.id,
    modelSha256,
    inputHash: shard.inputHash,
    outputs: inferOutputs(shard.inputs as PromptInput[], MAX_TOKENS, random),
    stats: { promptTokens: shard.inputs.length * 8, generatedTokens: shard.inputs.length * MAX_TOKENS, computeMs: 700 },
  };
}

/** Untimed: a job of `shardCount` shards, every shard leased round-robin, and its signed results. */
function prepareJob(stores: Stores, fleet: readonly FleetNode[], modelSha256: string, shardCount: number, seed: number): PreparedJob {
  const job = stores.jobs.createJob({ workload: 'infer', modelSha256, inputs: promptInputs(shardCount * SHARD_SIZE), shardSize: SHARD_SIZE, settings: SETTINGS });
  const random = seededRandom(seed);
  const deliveries: PreparedJob['deliveries'] = [];
  const duplicates: PreparedJob['duplicates'] = [];
  for (const shard of stores.jobs.shardsOf(job.id)) {
    const node = fleet[shard.idx % fleet.length] as FleetNode;
    const lease = stores.leases.leaseShard(shard.id, node.id, 3_600_000);
    if (!lease) throw new Error(`could not lease shard ${shard.id}`);
    const body = resultBody(shard, lease, modelSha256, random);
    deliveries.push({ topic: topicFor('result', node.id), payload: encodeMessage(sealMessage('result', body, node.signer)), nodeId: node.id });
    duplicates.push({ envelope: sealMessage('result', body, node.signer), nodeId: node.id });
  }
  return { job, deliveries, duplicates };
}

function perSecond(count: number, ms: number): number {
  return count / (ms / 1000);
}

async function run(options: BenchOptions, report: Reporter): Promise<void> {
  const reps = options.quick ? 2 : 5;
  const shardCount = 1000;
  const bigShardCount = options.quick ? 0 : 10_000;
  report.method(
    `one process; control-plane/src/store/db.ts opens a fresh SQLite file (WAL, synchronous=NORMAL) in a temp dir; ${NODES} node keys (node:crypto) recorded online; per repetition a new job of ${shardCount.toLocaleString('en-US')} shards × ${SHARD_SIZE} prompts (JobStore.createJob), every shard leased (LeaseStore.leaseShard) and its result (${SHARD_SIZE}×${MAX_TOKENS} tokens) sealed by its node — all untimed`,
  );
  report.method(
    `timed per repetition, in order: openMessage of every payload; ResultIntake.receive of every result (all accepted); the same envelopes again (redeliveries); newly sealed second results for the same shards (duplicates); then Aggregator.completeJob; ${reps} repetitions on the same database (it grows as a real one does), figure = median [min–max]`,
  );

  const dir = await mkdtemp(join(tmpdir(), 'meshchain-bench-intake-'));
  let db: Db | null = null;
  try {
    db = openDatabase(join(dir, 'control-plane.db'));
    const jobs = new JobStore(db);
    const nodes = new NodeStore(db);
    const leases = new LeaseStore(db, DEFAULT_SHARD_RETRY);
    const intake = new ResultIntake(db, jobs, leases, nodes);
    const stores: Stores = { db, jobs, nodes, leases, intake, aggregator: new Aggregator(db, jobs, intake) };
    const models = new ModelStore(join(dir, 'models'), db);
    const model = await models.put(Readable.from([Buffer.from(generateSeed())]), { name: 'bench' });

    const fleet: FleetNode[] = Array.from({ length: NODES }, () => {
      const signer = new NodeCryptoSigner(generateSeed());
      return { signer, id: deriveId(signer.publicKey, 'node') };
    });
    for (const node of fleet) nodes.recordPresence(node.id, toBase64Url(node.signer.publicKey), { state: 'online', since: Date.now() });
    const cp = new NodeCryptoSigner(generateSeed());
    const openOptions = { trustedControlPlanes: new Set([deriveId(cp.publicKey, 'cp')]), maxSkewMs: 10 * 60_000 };

    const open: number[] = [];
    const accepted: number[] = [];
    const full: number[] = [];
    const redelivered: number[] = [];
    const duplicate: number[] = [];
    const complete: number[] = [];
    // One untimed warm-up round, then the timed ones.
    for (let rep = -1; rep < reps; rep++) {
      options.signal.throwIfAborted();
      const prepared = prepareJob(stores, fleet, model.sha256, rep < 0 ? 100 : shardCount, rep + 2);
      const count = prepared.deliveries.length;

      let started = performance.now();
      const opened = prepared.deliveries.map((d) => {
        const message = openMessage(d.topic, d.payload, openOptions);
        if (message.kind !== 'result') throw new Error(`expected a result, opened a ${message.kind}`);
        return { envelope: message.envelope, nodeId: d.nodeId };
      });
      const openMs = performance.now() - started;

      started = performance.now();
      let completed = false;
      for (const { envelope, nodeId } of opened) {
        const outcome = intake.receive(envelope, nodeId);
        if (outcome.verdict.status !== 'accepted') throw new Error(`result for ${outcome.shardId} was ${outcome.verdict.status}, expected accepted`);
        completed ||= outcome.jobComplete;
      }
      const receiveMs = performance.now() - started;
      if (!completed) throw new Error('the last result did not complete the job');

      started = performance.now();
      for (const { envelope, nodeId } of opened) {
        if (!intake.receive(envelope, nodeId).redelivered) throw new Error('a redelivery was not recognised');
      }
      const redeliveryMs = performance.now() - started;

      started = performance.now();
      for (const { envelope, nodeId } of prepared.duplicates) {
        if (intake.receive(envelope, nodeId).verdict.status !== 'duplicate') throw new Error('a second result was not a duplicate');
      }
      const duplicateMs = performance.now() - started;

      started = performance.now();
      const manifest = stores.aggregator.completeJob(prepared.job.id);
      const completeMs = performance.now() - started;
      if (manifest.shards.length !== count) throw new Error(`manifest has ${manifest.shards.length} shards, expected ${count}`);

      if (rep < 0) continue;
      open.push(perSecond(count, openMs));
      accepted.push(perSecond(count, receiveMs));
      full.push(perSecond(count, openMs + receiveMs));
      redelivered.push(perSecond(count, redeliveryMs));
      duplicate.push(perSecond(count, duplicateMs));
      complete.push(completeMs);
    }

    report.figure('openMessage (verify + schema) of a result', 'results/s', open);
    report.figure('ResultIntake.receive, accepted path', 'results/s', accepted);
    report.figure('open + receive (the control plane per result, one core)', 'results/s', full);
    report.figure('ResultIntake.receive, redelivery (same envelope id)', 'results/s', redelivered);
    report.figure('ResultIntake.receive, duplicate (new id, shard done)', 'results/s', duplicate);
    report.figure(`Aggregator.completeJob, ${shardCount.toLocaleString('en-US')}-shard job`, 'ms', complete);

    // The orchestrator runs a scheduling pass after the messages of each event-loop turn;
    // its first step reclaims expired leases. Nothing has expired here: this is its fixed cost.
    const leaseCount = (db.prepare('SELECT COUNT(*) AS n FROM leases').get() as { n: number }).n;
    const sweeps: number[] = [];
    for (let i = 0; i < 25; i++) {
      const started = performance.now();
      leases.reclaimExpiredLeases();
      leases.queuedShards(Date.now());
      if (i >= 5) sweeps.push(performance.now() - started);
    }
    report.figure(
      `scheduling pass start (reclaimExpiredLeases + queuedShards), ${leaseCount.toLocaleString('en-US')} leases on record`,
      'ms',
      sweeps,
      '20 calls after 5 untimed',
    );

    if (bigShardCount > 0) {
      options.signal.throwIfAborted();
      // One large job: does the per-result cost grow with the job's size?
      const prepared = prepareJob(stores, fleet, model.sha256, bigShardCount, 99);
      const opened = prepared.deliveries.map((d) => {
        const message = openMessage(d.topic, d.payload, openOptions);
        if (message.kind !== 'result') throw new Error(`expected a result, opened a ${message.kind}`);
        return { envelope: message.envelope, nodeId: d.nodeId };
      });
      const slice = 1000;
      const windows: number[] = [];
      for (let at = 0; at < opened.length; at += slice) {
        const started = performance.now();
        for (const { envelope, nodeId } of opened.slice(at, at + slice)) intake.receive(envelope, nodeId);
        windows.push(perSecond(Math.min(slice, opened.length - at), performance.now() - started));
      }
      report.figure(
        `receive, accepted, ${bigShardCount.toLocaleString('en-US')}-shard job: first 1,000 results`,
        'results/s',
        [windows[0] ?? Number.NaN],
      );
      report.figure(
        `receive, accepted, ${bigShardCount.toLocaleString('en-US')}-shard job: last 1,000 results`,
        'results/s',
        [windows.at(-1) ?? Number.NaN],
      );
      const started = performance.now();
      stores.aggregator.completeJob(prepared.job.id);
      report.figure(`Aggregator.completeJob, ${bigShardCount.toLocaleString('en-US')}-shard job`, 'ms', [performance.now() - started]);

      // What GET /v1/jobs/:id (control-plane/src/api/server.ts) reads and serialises per poll;
      // `meshchain submit --wait` polls it every 250 ms. The store calls are the server's own.
      const polls: number[] = [];
      let bytes = 0;
      for (let i = 0; i < 6; i++) {
        const pollStarted = performance.now();
        const job = jobs.getJob(prepared.job.id);
        const shards = jobs.shardsOf(job.id).map((s) => ({
          id: s.id,
          index: s.idx,
          state: s.state,
          nodeId: s.nodeId,
          attempts: s.attempts,
          inputs: s.inputs.length,
          resultHash: s.resultHash,
          lastError: s.lastError,
        }));
        bytes = JSON.stringify({ job, progress: jobs.progress(job), shards, events: jobs.eventsOf(job.id) }).length;
        if (i > 0) polls.push(performance.now() - pollStarted);
      }
      report.figure(
        `job status poll work (GET /v1/jobs/:id), ${bigShardCount.toLocaleString('en-US')}-shard job`,
        'ms',
        polls,
        `${(bytes / 1024 / 1024).toFixed(1)} MiB of JSON per poll; 5 polls after 1 untimed`,
      );
    } else {
      report.note('--quick: the 10,000-shard job is skipped');
    }
  } finally {
    db?.close();
    await rm(dir, { recursive: true, force: true });
  }
}

export const intakeBenchmark: Benchmark = {
  name: 'intake',
  title: 'control-plane result intake on SQLite, and job aggregation',
  run,
};
