import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatLabelSelector, matchesLabels, parseLabelSelector } from './label-selector.ts';

describe('label selectors', () => {
  it('parse as kubectl writes them', () => {
    assert.deepEqual(parseLabelSelector('confighash.dev/enabled=true'), {
      matchLabels: { 'confighash.dev/enabled': 'true' },
    });
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

  it('formats a selector of matchExpressions alone as the API server reads it, and parses back what it formats', () => {
    const selector = {
      matchExpressions: [
        { key: 'app', operator: 'In' as const, values: ['web', 'api'] },
        { key: 'canary', operator: 'DoesNotExist' as const },
        { key: 'tier', operator: 'Exists' as const },
        { key: 'env', operator: 'NotIn' as const, values: ['dev'] },
      ],
    };
    assert.equal(formatLabelSelector(selector), 'app in (web,api),!canary,tier,env notin (dev)');
    assert.deepEqual(parseLabelSelector(formatLabelSelector({ matchLabels: { a: 'b' }, ...selector })), {
      matchLabels: { a: 'b' },
      ...selector,
    });
  });
});
