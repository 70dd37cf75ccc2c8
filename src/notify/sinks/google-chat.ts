// Google Chat incoming webhooks: a text message, in Chat's own formatting
// (*bold*), at most 4,096 characters.
// https://developers.google.com/workspace/chat/quickstart/webhooks
import type { Notice } from '../notice.ts';
import { jsonMessage, type SinkFormat } from './sink.ts';
import { noticeText } from './text.ts';

const MAX_TEXT = 4096;

export const googleChat: SinkFormat = {
  render(notice: Notice) {
    const text = noticeText(notice);
    const lines = [`*${text.title}*`, text.summary, ...text.facts.map((fact) => `• ${fact.label}: ${fact.value}`), `confighash · ${notice.type} · ${notice.id}`];
    const joined = lines.join('\n');
    return jsonMessage({ text: joined.length <= MAX_TEXT ? joined : `${joined.slice(0, MAX_TEXT - 1)}…` });
  },
};
