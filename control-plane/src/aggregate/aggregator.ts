import type { Db } from '../store/db.ts';
import type { JobStore } from '../jobs/job-store.ts';
import type { ResultIntake } from '../intake/result-intake.ts';
import { ConflictError, ControlPlaneError } from '../errors.ts';
import { workloadModule } from '../workloads/index.ts';
import { buildManifest, NO_MODEL_SHA256, stitchOutputs, type Manifest, type OutputLine } from './manifest.ts';

/** Stitches a finished job's shard results into its output and manifest. */
export class Aggregator {
  readonly #db: Db;
  readonly #jobs: JobStore;
  readonly #intake: ResultIntake;

  readonly #verdictOf: (resultId: string) => 'accepted' | 'verified';

  constructor(db: Db, jobs: JobStore, intake: ResultIntake, verdictOf: (resultId: string) => 'accepted' | 'verified' = () => 'accepted') {
    this.#db = db;
    this.#jobs = jobs;
    this.#intake = intake;
    this.#verdictOf = verdictOf;
  }

  /** Marks a job completed with its manifest. Idempotent: a completed job keeps its manifest. */
  completeJob(jobId: string, now = Date.now()): Manifest {
    return this.#db.transaction((): Manifest => {
      const job = this.#jobs.getJob(jobId);
      if (job.state === 'completed') return this.manifest(jobId);
      const shards = this.#jobs.shardsOf(jobId);
      const pending = shards.filter((s) => s.state !== 'completed');
      if (pending.length > 0) throw new ConflictError(`job ${jobId} still has ${pending.length} unfinished shards`);
      const manifest = buildManifest(
        job.id,
        job.modelSha256 ?? NO_MODEL_SHA256,
        job.inputCount,
        shards.map((s) => {
          if (!s.nodeId || !s.resultHash) throw new ControlPlaneError(`shard ${s.id} is completed without a result`);
          const first = s.inputs[0]?.index ?? 0;
          return {
            index: s.idx,
            shardId: s.id,
            nodeId: s.nodeId,
            resultHash: s.resultHash,
            verdict: s.resultId ? this.#verdictOf(s.resultId) : ('accepted' as const),
            inputs: { first, last: s.inputs.at(-1)?.index ?? first },
          };
        }),
      );
      this.#db
        .prepare(`UPDATE jobs SET state = 'completed', completed_at = ?, manifest = ?, manifest_root = ? WHERE id = ?`)
        .run(now, JSON.stringify(manifest), manifest.root, jobId);
      this.#jobs.recordEvent({ kind: 'job_completed', jobId, detail: `manifest root ${manifest.root}` }, now);
      return manifest;
    })();
  }

  manifest(jobId: string): Manifest {
    this.#jobs.getJob(jobId); // 404 for an unknown job
    const row = this.#db.prepare('SELECT state, manifest FROM jobs WHERE id = ?').get(jobId) as
      | { state: string; manifest: string | null }
      | undefined;
    if (!row?.manifest) throw new ConflictError(`job ${jobId} has no manifest yet (state: ${row?.state ?? 'unknown'})`);
    return JSON.parse(row.manifest) as Manifest;
  }

  output(jobId: string): OutputLine[] {
    const job = this.#jobs.getJob(jobId);
    if (job.state !== 'completed') {
      throw new ConflictError(`job ${jobId} is ${job.state}; its output is available once it completes`, {
        details: job.error ?? `follow it with \`meshchain status ${jobId}\``,
      });
    }
    const workload = workloadModule(job.workload);
    const parts = this.#jobs.shardsOf(jobId).map((shard) => {
      const envelope = shard.resultId ? this.#intake.acceptedResult(shard.resultId) : null;
      if (!envelope) throw new ControlPlaneError(`accepted result of shard ${shard.id} is missing`);
      return workload.outputLines(shard.inputs, envelope.body);
    });
    return stitchOutputs(parts);
  }
}
