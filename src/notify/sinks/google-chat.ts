// Google Chat incoming webhooks: a text message, in Chat's own formatting
// (*bold*), at most 4,096 characters.
// https://developers.google.com/workspace/chat/quickstart/webhooks
import type { Notice } from '../notice.ts';
import { jsonMessage, type SinkFormat } from './sink.ts';
import { literal, noticeText } from './text.ts';

const MAX_TEXT = 4096;
/**
 * Chat reads `<…>` as a link or a mention (`<users/all>` notifies everyone) and has no
 * escape for it: angle brackets in a value are shown as look-alikes (‹ ›).
 */
const ANGLES = /[<>]/g;
const plain = (text: string): string => literal(text, ANGLES, (c) => (c === '<' ? '‹' : '›'));

export const googleChat: SinkFormat = {
  render(notice: Notice) {
    const text = noticeText(notice);
    const lines = [
      `*${text.title}*`,
      plain(text.summary),
      ...text.facts.map((fact) => `• ${fact.label}: ${plain(fact.value)}`),
      `confighash · ${notice.type} · ${notice.id}`,
    ];
    const joined = lines.join('\n');
    return jsonMessage({ text: joined.length <= MAX_TEXT ? joined : `${joined.slice(0, MAX_TEXT - 1)}…` });
  },
};
