// The one interface a sink implements: how a notice is written for its
// endpoint. Delivery (queueing, retries, Retry-After, giving up) is the same for
// every sink (see ../delivery.ts). To add a sink, add a file that exports a
// SinkFormat and name it in ./index.ts.
import type { Notice } from '../notice.ts';

export interface SinkMessage {
  contentType: string;
  body: string;
}

export interface SinkFormat {
  render(notice: Notice): SinkMessage;
}

export function jsonMessage(value: unknown, contentType = 'application/json'): SinkMessage {
  return { contentType, body: JSON.stringify(value) };
}
