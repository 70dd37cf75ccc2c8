import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compareResourceVersions } from './resource-version.ts';

describe('compareResourceVersions', () => {
  it('orders decimal resourceVersions by value, not as text', () => {
    assert.ok((compareResourceVersions('9', '10') ?? 0) < 0);
    assert.ok((compareResourceVersions('123457', '123456') ?? 0) > 0);
    assert.equal(compareResourceVersions('42', '42'), 0);
  });

  it('does not order what is not a decimal resourceVersion', () => {
    for (const [a, b] of [
      ['', '1'],
      ['01', '1'],
      ['1a', '2'],
      ['abc', 'abd'],
      ['-1', '1'],
    ] as const) {
      assert.equal(compareResourceVersions(a, b), undefined, `${a} vs ${b}`);
      assert.equal(compareResourceVersions(b, a), undefined, `${b} vs ${a}`);
    }
  });
});
