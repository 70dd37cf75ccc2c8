import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ListStreamParser } from './list-stream.ts';

/** Feeds `text` in chunks of `size` bytes; returns the items and the rest. */
function parse(text: string, size: number): { items: unknown[]; rest: Record<string, unknown> } {
  const items: unknown[] = [];
  const parser = new ListStreamParser((item) => items.push(item));
  const bytes = Buffer.from(text);
  for (let at = 0; at < bytes.length; at += size) parser.write(bytes.subarray(at, at + size));
  return { items, rest: parser.end() };
}

const LIST = {
  kind: 'SecretList',
  apiVersion: 'v1',
  metadata: { resourceVersion: '42', continue: 'eyJ2IjoibWV0YS5rOHMuaW8vdjEifQ' },
  items: [
    {
      metadata: { name: 'a', annotations: { note: 'braces } ] { [ and "quotes" and \\ backslashes' } },
      data: { k: 'dmFsdWU=' },
    },
    { metadata: { name: 'b', labels: { ü: 'ünïcödé ✓' } }, data: { list: '[1,2]' }, nested: [[{ deep: [] }], {}] },
    { metadata: { name: 'c' } },
  ],
};

describe('ListStreamParser', () => {
  it('hands over each item as parsed alone, and the rest without items, whatever the chunk boundaries', () => {
    const text = JSON.stringify(LIST);
    for (const size of [1, 2, 3, 7, 64, text.length]) {
      const { items, rest } = parse(text, size);
      assert.deepEqual(items, LIST.items, `chunks of ${size}`);
      assert.deepEqual(rest, { ...LIST, items: [] }, `chunks of ${size}`);
    }
  });

  it('reads an empty list and one with whitespace between its items', () => {
    assert.deepEqual(parse(JSON.stringify({ ...LIST, items: [] }), 5), { items: [], rest: { ...LIST, items: [] } });
    const spaced = JSON.stringify(LIST, null, 2);
    for (const size of [1, 5, spaced.length]) assert.deepEqual(parse(spaced, size).items, LIST.items);
  });

  it('refuses a body cut short, and an item that is not JSON', () => {
    const text = JSON.stringify(LIST);
    assert.throws(() => parse(text.slice(0, text.length - 10), 8), /ended in the middle/);
    assert.throws(() => parse('{"items":[{"a":tru}]}', 4), SyntaxError);
  });

  it("never quotes an item it cannot parse: it may hold a Secret's value", () => {
    assert.throws(
      () => parse('{"items":[{"data":{"pin":"MTQ4Nw=="},x}]}', 16),
      (error: unknown) => {
        assert.ok(error instanceof SyntaxError);
        assert.equal(error.message, 'item 1 of the list is not valid JSON (29 characters)');
        return true;
      },
    );
  });
});
