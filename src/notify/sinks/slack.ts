// Slack incoming webhooks: `text` (what notifications and old clients show) and
// Block Kit blocks (a header, the summary, the facts as fields).
// https://api.slack.com/messaging/webhooks, https://api.slack.com/reference/block-kit/blocks
import type { Notice } from '../notice.ts';
import { jsonMessage, type SinkFormat } from './sink.ts';
import { noticeText } from './text.ts';

/** Block Kit's limits: a header's text, a section's text, a field's text, fields per section. */
const LIMITS = { header: 150, section: 3000, field: 2000, fields: 10 };

export const slack: SinkFormat = {
  render(notice: Notice) {
    const text = noticeText(notice);
    const fields = text.facts.map((fact) => ({
      type: 'mrkdwn',
      text: cut(`*${escape(fact.label)}*\n${escape(fact.value)}`, LIMITS.field),
    }));
    const sections = [];
    for (let i = 0; i < fields.length; i += LIMITS.fields)
      sections.push({ type: 'section', fields: fields.slice(i, i + LIMITS.fields) });
    return jsonMessage({
      text: cut(`${text.title}: ${text.summary}`, LIMITS.section),
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: cut(text.title, LIMITS.header) } },
        { type: 'section', text: { type: 'mrkdwn', text: cut(escape(text.summary), LIMITS.section) } },
        ...sections,
        { type: 'context', elements: [{ type: 'mrkdwn', text: `confighash · ${notice.type} · ${notice.id}` }] },
      ],
    });
  },
};

/** Slack's mrkdwn reserves &, < and >. */
function escape(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

function cut(text: string, limit: number): string {
  return text.length <= limit ? text : `${text.slice(0, limit - 1)}…`;
}
