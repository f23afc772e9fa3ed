import type { SignedRelease } from '@meshchain/protocol';
import { ApiTransport } from '../cli/transport.ts';
import type { ReleaseRecord } from './release-store.ts';

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
}
