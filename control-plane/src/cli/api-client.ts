import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Job, JobProgress } from '../jobs/types.ts';
import type { Manifest } from '../aggregate/manifest.ts';
import type { NodeRecord } from '../nodes/node-store.ts';
import type { TelemetryBody } from '@meshchain/protocol';
import type { JobTrustReport } from '../trust/spot-checker.ts';
import type { NodeTrust } from '../trust/trust-store.ts';
import type { SubmitJobRequest } from '../api/job-request.ts';
import type { ControlPlaneInfo } from '../control-plane.ts';
import type { ContributionProof, EpochRecord, EpochsResponse, OwnerRewards } from '../rewards/types.ts';

export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;
  readonly code: string;
  readonly details: string | undefined;

  constructor(status: number, code: string, message: string, details?: string) {
    super(details ? `${message} (${details})` : message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

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
  readonly #token: string | undefined;

  constructor(baseUrl: string, options: { token?: string } = {}) {
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.#token = options.token;
  }

  info(): Promise<ControlPlaneInfo> {
    return this.#json('GET', '/v1/info');
  }

  async submitJob(request: SubmitJobRequest): Promise<{ job: Job; progress: JobProgress }> {
    return this.#json('POST', '/v1/jobs', request);
  }

  job(id: string): Promise<JobStatus> {
    return this.#json('GET', `/v1/jobs/${encodeURIComponent(id)}`);
  }

  async jobs(): Promise<(Job & { progress: JobProgress })[]> {
    return (await this.#json<{ jobs: (Job & { progress: JobProgress })[] }>('GET', '/v1/jobs')).jobs;
  }

  async nodes(): Promise<NodeView[]> {
    return (await this.#json<{ nodes: NodeView[] }>('GET', '/v1/nodes')).nodes;
  }

  release(id: string): Promise<{ nodeId: string; released: boolean }> {
    return this.#json('POST', `/v1/nodes/${encodeURIComponent(id)}/release`, {});
  }

  node(id: string): Promise<{ node: NodeView; telemetry: TelemetryBody[] }> {
    return this.#json('GET', `/v1/nodes/${encodeURIComponent(id)}`);
  }

  identify(id: string, seconds: number): Promise<{ nodeId: string; online: boolean }> {
    return this.#json('POST', `/v1/nodes/${encodeURIComponent(id)}/identify`, { seconds });
  }

  manifest(id: string): Promise<Manifest> {
    return this.#json('GET', `/v1/jobs/${encodeURIComponent(id)}/manifest`);
  }

  /** An owner's earnings, on-chain claim state and claim proof. */
  rewardsOwner(address: string): Promise<OwnerRewards> {
    return this.#json('GET', `/v1/rewards/owners/${encodeURIComponent(address)}`);
  }

  rewardsEpochs(): Promise<EpochsResponse> {
    return this.#json('GET', '/v1/rewards/epochs');
  }

  /** Closes the open reward epoch now; it is posted on chain in the background. */
  async closeEpoch(): Promise<EpochRecord> {
    return (await this.#json<{ epoch: EpochRecord }>('POST', '/v1/rewards/epochs/close')).epoch;
  }

  contributionProof(jobId: string, shardIndex: number): Promise<ContributionProof> {
    return this.#json('GET', `/v1/rewards/contributions/${encodeURIComponent(jobId)}/${shardIndex}/proof`);
  }

  async resultText(id: string): Promise<string> {
    const response = await this.#fetch('GET', `/v1/jobs/${encodeURIComponent(id)}/result`);
    return response.text();
  }

  /** Uploads a model file unless the control plane already has it; returns its sha256. */
  async uploadModel(path: string): Promise<{ sha256: string; size: number; uploaded: boolean }> {
    const { size } = await stat(path);
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
    const sha256 = hash.digest('hex');
    const head = await this.#fetch('HEAD', `/v1/models/${sha256}`, undefined, [200, 404]);
    if (head.status === 200) return { sha256, size, uploaded: false };
    const name = path.split('/').pop() ?? 'model.gguf';
    await this.#fetch('PUT', `/v1/models/${sha256}?name=${encodeURIComponent(name)}`, {
      body: Readable.toWeb(createReadStream(path)) as ReadableStream,
      contentType: 'application/octet-stream',
      length: size,
    });
    return { sha256, size, uploaded: true };
  }

  async #json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await this.#fetch(
      method,
      path,
      body === undefined ? undefined : { body: JSON.stringify(body), contentType: 'application/json' },
    );
    return (await response.json()) as T;
  }

  async #fetch(
    method: string,
    path: string,
    body?: { body: string | ReadableStream; contentType: string; length?: number },
    okStatuses: number[] = [],
  ): Promise<Response> {
    const headers: Record<string, string> = {};
    if (this.#token) headers.authorization = `Bearer ${this.#token}`;
    if (body) headers['content-type'] = body.contentType;
    if (body?.length !== undefined) headers['content-length'] = String(body.length);
    let response: Response;
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        ...(body ? { body: body.body, duplex: 'half' } : {}),
      } as RequestInit);
    } catch (cause) {
      throw new ApiError(
        0,
        'Unreachable',
        `cannot reach the control plane at ${this.baseUrl}`,
        `is \`meshchain serve\` running? Choose another with --api or MESHCHAIN_API (${(cause as Error).cause ?? cause})`,
      );
    }
    if (response.ok || okStatuses.includes(response.status)) return response;
    const text = await response.text();
    let error: { code?: string; message?: string; details?: string } = {};
    try {
      error = (JSON.parse(text) as { error?: typeof error }).error ?? {};
    } catch {
      error = { message: text.slice(0, 200) };
    }
    throw new ApiError(response.status, error.code ?? 'HttpError', error.message ?? `HTTP ${response.status}`, error.details);
  }
}
