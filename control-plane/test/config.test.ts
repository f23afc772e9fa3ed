import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadControlPlaneConfig } from '../src/index.ts';

describe('control-plane config', () => {
  it('has sane defaults and takes MESHCHAIN_* overrides', () => {
    const defaults = loadControlPlaneConfig({ env: {} });
    assert.equal(defaults.host, '127.0.0.1');
    assert.equal(defaults.apiPort, 8080);
    assert.equal(defaults.enrollment, 'open');
    const config = loadControlPlaneConfig({ env: { MESHCHAIN_API_PORT: '9000', MESHCHAIN_ENROLLMENT: 'allowlist', MESHCHAIN_ALLOWLIST: 'mna, mnb' } });
    assert.equal(config.apiPort, 9000);
    assert.deepEqual(config.allowlist, ['mna', 'mnb']);
  });

  it('names every invalid setting', () => {
    assert.throws(
      () => loadControlPlaneConfig({ env: { MESHCHAIN_API_PORT: '70000', MESHCHAIN_ENROLLMENT: 'everyone' } }),
      (e: unknown) => e instanceof ConfigError && /apiPort/.test(e.details ?? '') && /enrollment/.test(e.details ?? ''),
    );
    assert.throws(() => loadControlPlaneConfig({ file: '/nonexistent/meshchain.json' }), /cannot read config file/);
  });
});
