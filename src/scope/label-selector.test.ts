import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { matchesLabels, parseLabelSelector } from './label-selector.ts';

describe('label selectors', () => {
  it('parse as kubectl writes them', () => {
    assert.deepEqual(parseLabelSelector('confighash.dev/enabled=true'), { matchLabels: { 'confighash.dev/enabled': 'true' } });
    assert.deepEqual(parseLabelSelector('team==a, tier!=cache,env in (prod, staging),env notin (dev),owner,!legacy'), {
      matchLabels: { team: 'a' },
      matchExpressions: [
        { key: 'tier', operator: 'NotIn', values: ['cache'] },
        { key: 'env', operator: 'In', values: ['prod', 'staging'] },
        { key: 'env', operator: 'NotIn', values: ['dev'] },
        { key: 'owner', operator: 'Exists' },
        { key: 'legacy', operator: 'DoesNotExist' },
      ],
    });
    assert.deepEqual(parseLabelSelector(''), {});
  });

  it('match as the API server matches', () => {
    const selector = parseLabelSelector('team=a,env in (prod,staging),!legacy,tier!=cache');
    assert.equal(matchesLabels(selector, { team: 'a', env: 'prod' }), true);
    assert.equal(matchesLabels(selector, { team: 'a', env: 'prod', tier: 'web' }), true);
    assert.equal(matchesLabels(selector, { team: 'a', env: 'dev' }), false);
    assert.equal(matchesLabels(selector, { team: 'a', env: 'prod', legacy: 'yes' }), false);
    assert.equal(matchesLabels(selector, { team: 'a', env: 'prod', tier: 'cache' }), false);
    assert.equal(matchesLabels(selector, { env: 'prod' }), false);
    assert.equal(matchesLabels(parseLabelSelector(''), {}), true);
  });

  it('refuse what is not a selector, naming the requirement', () => {
    assert.throws(() => parseLabelSelector('a=b,=c'), /"=c"/);
    assert.throws(() => parseLabelSelector('bad key=x'), /not a label key/);
    assert.throws(() => parseLabelSelector('a=b c'), /"a=b c"/);
    assert.throws(() => parseLabelSelector('a in (x y)'), /not a label value/);
  });
});
