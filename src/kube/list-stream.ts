// A Kubernetes list response read as it arrives: each element of its `items` is
// parsed on its own and handed over, so that a page of large Secrets never exists
// whole in memory (not as a body, not as one string, not as one parsed array).
// Everything else of the response (kind, metadata) is kept, with `items` left
// empty, and parsed at the end.
//
// It relies on two things every list response has: one top-level object, and
// `items` the only array directly inside it. The scan is byte by byte outside
// strings, and jumps from quote to quote inside them (most of a list's bytes are
// strings: Secrets' base64 values); JSON's structural characters are ASCII, so
// UTF-8 multi-byte sequences never match them.
import { parseJson } from './json.ts';

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
      if (this.#inString) i = this.#skipString(chunk, i);
      else from = this.#structuralByte(chunk, i, from);
    }
    if (this.#depth > ITEMS_DEPTH) this.#item.push(chunk.subarray(from));
    else if (!this.#betweenItems()) this.#rest.push(chunk.subarray(from));
  }

  /** The response's other fields, once the whole body was written. */
  end(): { metadata?: unknown } & Record<string, unknown> {
    if (this.#depth !== 0 || this.#inString)
      throw new SyntaxError('the list response ended in the middle of a JSON value');
    return parseJson(Buffer.concat(this.#rest).toString(), 'the list response') as Record<string, unknown>;
  }

  /**
   * Skips a string's bytes from `start`: returns the index of its closing quote,
   * or the chunk's last index when the string goes on in the next chunk.
   */
  #skipString(chunk: Buffer, start: number): number {
    let i = start;
    if (this.#escaped) {
      // The previous chunk ended with a backslash: this byte is the one it escapes.
      this.#escaped = false;
      i++;
    }
    for (let quote = chunk.indexOf(QUOTE, i); quote !== -1; quote = chunk.indexOf(QUOTE, i)) {
      if (backslashesBefore(chunk, quote, i) % 2 === 0) {
        this.#inString = false;
        return quote;
      }
      i = quote + 1;
    }
    this.#escaped = backslashesBefore(chunk, chunk.length, i) % 2 === 1;
    return chunk.length - 1;
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
      this.#onItem(parseJson(text, `item ${this.#items} of the list`) as T);
      return i + 1;
    }
    if (this.#depth === ITEMS_DEPTH - 1) this.#inItems = false;
    return from;
  }
}

/** How many backslashes come right before `end`, counting back no further than `start`. */
function backslashesBefore(chunk: Buffer, end: number, start: number): number {
  let count = 0;
  while (end - count - 1 >= start && chunk[end - count - 1] === BACKSLASH) count++;
  return count;
}
