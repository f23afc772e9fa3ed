import { ApiTransport } from './transport.ts';
import type { Job, JobProgress } from '../jobs/types.ts';
import type { Manifest } from '../aggregate/manifest.ts';
import type { NodeRecord } from '../nodes/node-store.ts';
import type { TelemetryBody } from '@meshchain/protocol';
import type { JobTrustReport } from '../trust/spot-checker.ts';
import type { NodeTrust } from '../trust/trust-store.ts';
import type { SubmitJobRequest } from '../api/job-request.ts';
import type { ControlPlaneInfo } from '../control-plane.ts';
import type { ContributionProof, EpochRecord, EpochsResponse, OwnerRewards } from '../rewards/types.ts';

export { ApiError } from './transport.ts';

export interface JobStatus {
  job: Job;
  progress: JobProgress;
  shards: { id: string; index: number; state: string; nodeId: string | null; attempts: number; inputs: number; resultHash: string | null; lastError: string | null }[];
  events: { ts: number; kind: string; shardId: string | null; nodeId: string | null; detail: string | null }[];
  trust: JobTrustReport | null;
}

/** A node as the API lists it: its record plus its reputation. */
export type NodeView = NodeRecord & { trust: (NodeTrust & { detection10: number }) | null };

/** A typed client of the control plane's HTTP API, used by the CLI, the demo and tests. */
export class ApiClient {
  readonly baseUrl: string;
  readonly #http: ApiTransport;

  constructor(baseUrl: string, options: { token?: string } = {}) {
    this.#http = new ApiTransport(baseUrl, options);
    this.baseUrl = this.#http.baseUrl;
  }

  info(): Promise<ControlPlaneInfo> {
    return this.#http.json('GET', '/v1/info');
  }

  /** `priority`: fair-share weight, 1–100 (default 10). */
  async submitJob(request: SubmitJobRequest & { priority?: number }): Promise<{ job: Job; progress: JobProgress }> {
    return this.#http.json('POST', '/v1/jobs', request);
  }

  /** Cancels a running job: 404 for an unknown job, 409 for one that already ended. */
  cancelJob(id: string, reason?: string): Promise<{ job: Job; progress: JobProgress; droppedShards: number; revokedLeases: number }> {
    return this.#http.json('POST', `/v1/jobs/${encodeURIComponent(id)}/cancel`, reason === undefined ? {} : { reason });
  }

  job(id: string): Promise<JobStatus> {
    return this.#http.json('GET', `/v1/jobs/${encodeURIComponent(id)}`);
  }

  async jobs(): Promise<(Job & { progress: JobProgress })[]> {
    return (await this.#http.json<{ jobs: (Job & { progress: JobProgress })[] }>('GET', '/v1/jobs')).jobs;
  }

  async nodes(): Promise<NodeView[]> {
    return (await this.#http.json<{ nodes: NodeView[] }>('GET', '/v1/nodes')).nodes;
  }

  release(id: string): Promise<{ nodeId: string; released: boolean }> {
    return this.#http.json('POST', `/v1/nodes/${encodeURIComponent(id)}/release`, {});
  }

  node(id: string): Promise<{ node: NodeView; telemetry: TelemetryBody[] }> {
    return this.#http.json('GET', `/v1/nodes/${encodeURIComponent(id)}`);
  }

  identify(id: string, seconds: number): Promise<{ nodeId: string; online: boolean }> {
    return this.#http.json('POST', `/v1/nodes/${encodeURIComponent(id)}/identify`, { seconds });
  }

  manifest(id: string): Promise<Manifest> {
    return this.#http.json('GET', `/v1/jobs/${encodeURIComponent(id)}/manifest`);
  }

  /** An owner's earnings, on-chain claim state and claim proof. */
  rewardsOwner(address: string): Promise<OwnerRewards> {
    return this.#http.json('GET', `/v1/rewards/owners/${encodeURIComponent(address)}`);
  }

  rewardsEpochs(): Promise<EpochsResponse> {
    return this.#http.json('GET', '/v1/rewards/epochs');
  }

  /** Closes the open reward epoch now; it is posted on chain in the background. */
  async closeEpoch(): Promise<EpochRecord> {
    return (await this.#http.json<{ epoch: EpochRecord }>('POST', '/v1/rewards/epochs/close')).epoch;
  }

  contributionProof(jobId: string, shardIndex: number): Promise<ContributionProof> {
    return this.#http.json('GET', `/v1/rewards/contributions/${encodeURIComponent(jobId)}/${shardIndex}/proof`);
  }

  async resultText(id: string): Promise<string> {
    const response = await this.#http.fetch('GET', `/v1/jobs/${encodeURIComponent(id)}/result`);
    return response.text();
  }

  /** Uploads a model file unless the control plane already has it; returns its sha256. */
  async uploadModel(path: string): Promise<{ sha256: string; size: number; uploaded: boolean }> {
    const name = path.split('/').pop() ?? 'model.gguf';
    return this.#http.uploadByHash('/v1/models', path, `?name=${encodeURIComponent(name)}`);
  }
}
