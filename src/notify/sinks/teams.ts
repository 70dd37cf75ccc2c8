// Microsoft Teams, through a Workflows webhook ("When a Teams webhook request is
// received"): a message whose one attachment is an Adaptive Card 1.4, the newest
// version every Teams client renders.
// https://learn.microsoft.com/microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using
import type { Notice } from '../notice.ts';
import { jsonMessage, type SinkFormat } from './sink.ts';
import { literal, noticeText } from './text.ts';

/**
 * What starts Markdown in an Adaptive Card (links, emphasis, code), escaped with a
 * backslash. A link needs its brackets, so parentheses stay as they are: a change
 * reads "configmap/app (1f3a… → 5e0c…)" in Teams as everywhere else.
 */
const MARKDOWN = /[\\`*_[\]~]/g;
const plain = (text: string): string => literal(text, MARKDOWN, (c) => `\\${c}`);

export const ADAPTIVE_CARD_VERSION = '1.4';

export const teams: SinkFormat = {
  render(notice: Notice) {
    const text = noticeText(notice);
    return jsonMessage({
      type: 'message',
      attachments: [
        {
          contentType: 'application/vnd.microsoft.card.adaptive',
          contentUrl: null,
          content: {
            $schema: 'http://adaptivecards.io/schemas/adaptive-card.json',
            type: 'AdaptiveCard',
            version: ADAPTIVE_CARD_VERSION,
            body: [
              {
                type: 'TextBlock',
                text: text.title,
                weight: 'Bolder',
                size: 'Medium',
                wrap: true,
                color: text.warning ? 'Attention' : 'Default',
              },
              { type: 'TextBlock', text: plain(text.summary), wrap: true },
              { type: 'FactSet', facts: text.facts.map((fact) => ({ title: fact.label, value: plain(fact.value) })) },
              {
                type: 'TextBlock',
                text: `confighash · ${notice.type} · ${notice.id}`,
                isSubtle: true,
                size: 'Small',
                wrap: true,
              },
            ],
          },
        },
      ],
    });
  },
};
