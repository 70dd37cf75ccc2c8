// A Kubernetes list response read as it arrives: each element of its `items` is
// parsed on its own and handed over, so that a page of large Secrets never exists
// whole in memory (not as a body, not as one string, not as one parsed array).
// Everything else of the response (kind, metadata) is kept, with `items` left
// empty, and parsed at the end.
//
// It relies on two things every list response has: one top-level object, and
// `items` the only array directly inside it. The scan is byte by byte; JSON's
// structural characters are ASCII, so UTF-8 multi-byte sequences never match them.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

/** Depths: 1 inside the top-level object, 2 inside `items`, 3 and more inside an item. */
const ITEMS_DEPTH = 2;

export class ListStreamParser<T> {
  readonly #onItem: (item: T) => void;
  /** The response without its items, e.g. `{"kind":"SecretList","metadata":{…},"items":[]}`. */
  readonly #rest: Buffer[] = [];
  /** The current item's bytes so far, across chunks. */
  #item: Buffer[] = [];
  #depth = 0;
  #inString = false;
  #escaped = false;
  #inItems = false;
  #items = 0;

  constructor(onItem: (item: T) => void) {
    this.#onItem = onItem;
  }

  write(chunk: Buffer): void {
    let from = 0;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i] ?? 0;
      if (this.#inString) this.#stringByte(byte);
      else from = this.#structuralByte(chunk, i, from);
    }
    if (this.#depth > ITEMS_DEPTH) this.#item.push(chunk.subarray(from));
    else if (!this.#betweenItems()) this.#rest.push(chunk.subarray(from));
  }

  /** The response's other fields, once the whole body was written. */
  end(): { metadata?: unknown } & Record<string, unknown> {
    if (this.#depth !== 0 || this.#inString) throw new SyntaxError('the list response ended in the middle of a JSON value');
    return JSON.parse(Buffer.concat(this.#rest).toString()) as Record<string, unknown>;
  }

  #stringByte(byte: number): void {
    if (this.#escaped) this.#escaped = false;
    else if (byte === BACKSLASH) this.#escaped = true;
    else if (byte === QUOTE) this.#inString = false;
  }

  /** Returns where the bytes not yet kept start. */
  #structuralByte(chunk: Buffer, i: number, from: number): number {
    const byte = chunk[i];
    if (byte === QUOTE) this.#inString = true;
    else if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) return this.#open(chunk, i, from);
    else if (byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) return this.#close(chunk, i, from);
    return from;
  }

  /** After an item, in `items`: only a comma and whitespace until the next item, which the rest leaves out. */
  #betweenItems(): boolean {
    return this.#inItems && this.#depth === ITEMS_DEPTH && this.#items > 0;
  }

  #open(chunk: Buffer, i: number, from: number): number {
    this.#depth++;
    if (this.#depth === ITEMS_DEPTH && chunk[i] === OPEN_ARRAY) this.#inItems = true;
    if (this.#inItems && this.#depth === ITEMS_DEPTH + 1) {
      // An item starts: what came before it belongs to the rest, unless it separates two items.
      if (this.#items === 0) this.#rest.push(chunk.subarray(from, i));
      this.#items++;
      this.#item = [];
      return i;
    }
    return from;
  }

  #close(chunk: Buffer, i: number, from: number): number {
    this.#depth--;
    if (this.#inItems && this.#depth === ITEMS_DEPTH) {
      this.#item.push(chunk.subarray(from, i + 1));
      const text = Buffer.concat(this.#item).toString();
      this.#item = [];
      this.#onItem(JSON.parse(text) as T);
      return i + 1;
    }
    if (this.#depth === ITEMS_DEPTH - 1) this.#inItems = false;
    return from;
  }
}
