// A generic webhook that receives CloudEvents 1.0 in structured mode: one JSON
// object with the context attributes and the notice as `data`
// (docs/schemas/notification-data.schema.json). `type` is
// `dev.confighash.<notice type>`; `id` is the notice's id, the same on every
// replica, so (source, id) identifies a notice as the spec intends.
// https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/formats/json-format.md
import type { Notice } from '../notice.ts';
import { jsonMessage, type SinkFormat } from './sink.ts';

export const CLOUDEVENTS_SOURCE = 'confighash.dev/controller';
export const CLOUDEVENTS_CONTENT_TYPE = 'application/cloudevents+json; charset=utf-8';
export const DATA_SCHEMA = 'https://confighash.dev/schemas/notification-data.schema.json';

export const cloudevents: SinkFormat = {
  render(notice: Notice) {
    const { type, id, time, ...data } = notice;
    const { kind, namespace, name } = notice.workload;
    return jsonMessage(
      {
        specversion: '1.0',
        id,
        source: CLOUDEVENTS_SOURCE,
        type: `dev.confighash.${type}`,
        subject: `namespaces/${namespace}/${kind.toLowerCase()}s/${name}`,
        time,
        datacontenttype: 'application/json',
        dataschema: DATA_SCHEMA,
        data,
      },
      CLOUDEVENTS_CONTENT_TYPE,
    );
  },
};
