import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { apiPath, InvalidPathError } from './raw.ts';

describe('apiPath', () => {
  it('encodes each segment', () => {
    assert.equal(apiPath('/api/v1', 'namespaces', 'app', 'secrets', 'a/b?c'), '/api/v1/namespaces/app/secrets/a%2Fb%3Fc');
  });

  it('refuses the segments URL parsing would drop: a read of `secret/.` must never become a list of every Secret', () => {
    for (const name of ['.', '..', '']) {
      assert.throws(() => apiPath('/api/v1', 'namespaces', 'app', 'secrets', name), InvalidPathError);
    }
    assert.equal(new URL(`https://h${apiPath('/api/v1', 'namespaces', 'app', 'secrets', '%2e')}`).pathname, '/api/v1/namespaces/app/secrets/%252e');
  });
});
