import type { SignedRelease } from '@meshchain/protocol';
import { ApiTransport } from '../cli/transport.ts';
import type { ReleaseRecord } from './release-store.ts';
import type { RolloutView, StartRolloutInput } from './rollout-runner.ts';
import type { DeviceOtaSettings, RolloutRecord } from './rollout-store.ts';

export { hashFile } from '../cli/transport.ts';

/** The OTA part of the control plane's API, for the CLI and tests. */
export class OtaClient {
  readonly baseUrl: string;
  readonly #http: ApiTransport;

  constructor(baseUrl: string, options: { token?: string } = {}) {
    this.#http = new ApiTransport(baseUrl, options);
    this.baseUrl = this.#http.baseUrl;
  }

  /** Uploads a file by its sha256 unless the control plane has it already. */
  uploadArtifact(path: string): Promise<{ sha256: string; size: number; uploaded: boolean }> {
    return this.#http.uploadByHash('/v1/artifacts', path);
  }

  registerRelease(signed: SignedRelease): Promise<{ release: ReleaseRecord; created: boolean }> {
    return this.#http.json('POST', '/v1/releases', signed);
  }

  async releases(): Promise<ReleaseRecord[]> {
    return (await this.#http.json<{ releases: ReleaseRecord[] }>('GET', '/v1/releases')).releases;
  }

  release(id: string): Promise<{ release: ReleaseRecord; signed: SignedRelease }> {
    return this.#http.json('GET', `/v1/releases/${encodeURIComponent(id)}`);
  }

  startRollout(input: StartRolloutInput): Promise<{ rollout: RolloutRecord }> {
    return this.#http.json('POST', '/v1/rollouts', input);
  }

  async rollouts(): Promise<RolloutRecord[]> {
    return (await this.#http.json<{ rollouts: RolloutRecord[] }>('GET', '/v1/rollouts')).rollouts;
  }

  rollout(id: string): Promise<RolloutView> {
    return this.#http.json('GET', `/v1/rollouts/${encodeURIComponent(id)}`);
  }

  rolloutAction(id: string, action: 'pause' | 'resume' | 'abort', reason?: string): Promise<{ rollout: RolloutRecord }> {
    return this.#http.json('POST', `/v1/rollouts/${encodeURIComponent(id)}/${action}`, reason === undefined ? {} : { reason });
  }

  updateDevice(nodeId: string, change: { pinnedRelease?: string | null; excluded?: boolean; tags?: Record<string, string> }): Promise<{ device: DeviceOtaSettings }> {
    return this.#http.json('PUT', `/v1/devices/${encodeURIComponent(nodeId)}/ota`, change);
  }
}
