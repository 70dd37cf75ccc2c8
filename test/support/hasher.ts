// A ValueHasher for unit tests: `valueKey` digests values; the last key given signs.
import { HmacKeyring, keyId, ValueHasher } from '../../src/checksum/index.ts';

export function hasherWith(valueKey: Buffer, ...more: Buffer[]): ValueHasher {
  const last = more.at(-1) ?? valueKey;
  return new ValueHasher(new HmacKeyring({ valueKey, keys: more, signingId: keyId(last) }));
}
