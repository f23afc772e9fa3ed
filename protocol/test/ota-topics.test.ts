import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  deriveId,
  encodeMessage,
  openMessage,
  parseTopic,
  releaseDigest,
  SchemaError,
  sealMessage,
  signRelease,
  SignatureError,
  topicFor,
  TOPICS,
  type ReleaseManifest,
  type UpdateOfferBody,
  type UpdateStatusBody,
} from '../src/index.ts';
import { newSigner } from './helpers.ts';

const manifest: ReleaseManifest = {
  version: '1.1.0',
  kind: 'app',
  artifact: { sha256: 'b'.repeat(64), size: 1234 },
  fromVersions: ['^1.0.0'],
  rollback: false,
  compatibility: 'meshnode-arm64',
  createdAt: 1_700_000_000_000,
};

function offer(): UpdateOfferBody {
  const release = signRelease(manifest, newSigner());
  return { rolloutId: 'ro_1', releaseId: releaseDigest(manifest), release, artifactUrl: `http://127.0.0.1:8080/v1/artifacts/${'b'.repeat(64)}`, force: false };
}

function status(overrides: Partial<UpdateStatusBody> = {}): UpdateStatusBody {
  return {
    rolloutId: 'ro_1',
    releaseId: 'c'.repeat(64),
    state: 'downloading',
    version: '1.1.0',
    fromVersion: '1.0.0',
    currentVersion: '1.0.0',
    kind: 'app',
    compatibility: 'meshnode-arm64',
    reason: null,
    detail: null,
    bytes: 512,
    at: 1_700_000_000_000,
    ...overrides,
  };
}

describe('OTA topics', () => {
  const cp = newSigner();
  const cpId = deriveId(cp.publicKey, 'cp');
  const node = newSigner();
  const nodeId = deriveId(node.publicKey, 'node');
  const trusted = { trustedControlPlanes: new Set([cpId]) };

  it('are in the topic table: offers go down to one node, status reports come up', () => {
    assert.equal(TOPICS.updateOffer.direction, 'down');
    assert.equal(TOPICS.updateStatus.direction, 'up');
    assert.equal(TOPICS.updateOffer.retain, false);
    assert.equal(TOPICS.updateStatus.retain, false);
    assert.deepEqual(parseTopic(topicFor('updateOffer', nodeId)), { kind: 'updateOffer', nodeId });
    assert.deepEqual(parseTopic(topicFor('updateStatus', nodeId)), { kind: 'updateStatus', nodeId });
  });

  it('carry a signed offer from the control plane and a status report from the node', () => {
    const body = offer();
    const opened = openMessage(topicFor('updateOffer', nodeId), encodeMessage(sealMessage('updateOffer', body, cp)), trusted);
    assert.equal(opened.kind, 'updateOffer');
    assert.deepEqual(opened.body, body);

    const report = status();
    const up = openMessage(topicFor('updateStatus', nodeId), encodeMessage(sealMessage('updateStatus', report, node)), trusted);
    assert.deepEqual(up.body, report);
  });

  it('refuse an offer signed by a node and a report signed by another node', () => {
    assert.throws(() => openMessage(topicFor('updateOffer', nodeId), encodeMessage(sealMessage('updateOffer', offer(), node)), trusted), SignatureError);
    const stranger = newSigner();
    assert.throws(() => openMessage(topicFor('updateStatus', nodeId), encodeMessage(sealMessage('updateStatus', status(), stranger)), trusted), SignatureError);
  });

  it('refuse malformed bodies with a schema error', () => {
    for (const bad of [
      status({ state: 'exploded' as never }),
      status({ bytes: -1 }),
      status({ currentVersion: 'latest' }),
      status({ reason: 'x'.repeat(65) }),
      status({ rolloutId: '../../etc' }),
    ]) {
      assert.throws(() => openMessage(topicFor('updateStatus', nodeId), encodeMessage(sealMessage('updateStatus', bad, node)), trusted), SchemaError);
    }
    const noSignature = { ...offer(), release: { manifest, publicKey: 'x', signature: 'y' } };
    assert.throws(() => openMessage(topicFor('updateOffer', nodeId), encodeMessage(sealMessage('updateOffer', noSignature, cp)), trusted), SchemaError);
    const badUrl = { ...offer(), artifactUrl: 'not a url' };
    assert.throws(() => openMessage(topicFor('updateOffer', nodeId), encodeMessage(sealMessage('updateOffer', badUrl, cp)), trusted), SchemaError);
  });
});
