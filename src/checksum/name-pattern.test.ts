import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_PATTERN_LENGTH, nameEntry } from './name-pattern.ts';

const matches = (pattern: string, name: string): boolean => {
  const entry = nameEntry(pattern);
  if ('error' in entry) throw new Error(entry.error);
  return entry.kind === 'name' ? entry.name === name : entry.matches(name);
};

describe('name patterns in reload lists', () => {
  it('takes an object name as itself, dots included', () => {
    assert.deepEqual(nameEntry('app.config-1'), { kind: 'name', name: 'app.config-1' });
  });

  it('matches the whole name, as Reloader anchors its patterns', () => {
    const cases: [string, string, boolean][] = [
      ['app-.*', 'app-config', true],
      ['app-.*', 'app-', true],
      ['app-.*', 'my-app-config', false],
      ['app-.+', 'app-', false],
      ['^app-[0-9]+$', 'app-12', true],
      ['app-[0-9]+', 'app-1a', false],
      ['app-[^.]*', 'app-a.b', false],
      ['colou?r-cm', 'color-cm', true],
      ['colou?r-cm', 'colouur-cm', false],
      ['db\\.prod-.*', 'db.prod-1', true],
      ['db\\.prod-.*', 'dbxprod-1', false],
      ['.*-secret', 'foo-secret', true],
      ['a*a*a*a*b', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', false],
    ];
    for (const [pattern, name, expected] of cases)
      assert.equal(matches(pattern, name), expected, `${pattern} ~ ${name}`);
  });

  it('refuses what cannot be matched in linear time, or is too long, saying why', () => {
    for (const pattern of ['(a+)+', 'a|b', 'a{2,}', '[a-z', 'a\\d', 'x'.repeat(MAX_PATTERN_LENGTH) + '.*']) {
      const entry = nameEntry(pattern);
      assert.ok('error' in entry, pattern);
      assert.match(entry.error, /does not support|without its|longer than/, pattern);
    }
  });

  it('answers the worst a tenant can write without backtracking: 31 stars against 253 characters', () => {
    const entry = nameEntry(`${'a*'.repeat(31)}b`);
    assert.ok(!('error' in entry) && entry.kind === 'pattern');
    assert.equal(entry.matches('a'.repeat(253)), false);
    assert.equal(entry.matches(`${'a'.repeat(252)}b`), true);
  });
});
