// What each sink's endpoint accepts, as its documentation describes it, for the
// tests to hold confighash's messages to: Slack's Block Kit limits, Google
// Chat's text message, Teams' Adaptive Card (parsed by Microsoft's own
// Adaptive Cards SDK for the version the card declares: an element, property or
// value that version does not have is an error), and CloudEvents 1.0 in
// structured JSON with confighash's data schema. Each returns the problems found.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false });
addFormats.default(ajv);

const problemsOf = (validate: ValidateFunction, value: unknown): string[] =>
  validate(value) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`);

const textObject = (type: 'plain_text' | 'mrkdwn' | 'any', maxLength: number): object => ({
  type: 'object',
  required: ['type', 'text'],
  additionalProperties: false,
  properties: {
    type: type === 'any' ? { enum: ['plain_text', 'mrkdwn'] } : { const: type },
    text: { type: 'string', minLength: 1, maxLength },
    emoji: { type: 'boolean' },
  },
});

/** https://api.slack.com/reference/block-kit/blocks: the blocks confighash uses, with their limits. */
const slackSchema = ajv.compile({
  type: 'object',
  required: ['text', 'blocks'],
  additionalProperties: false,
  properties: {
    text: { type: 'string', minLength: 1, maxLength: 40_000 },
    blocks: {
      type: 'array',
      minItems: 1,
      maxItems: 50,
      items: {
        oneOf: [
          {
            type: 'object',
            required: ['type', 'text'],
            additionalProperties: false,
            properties: { type: { const: 'header' }, text: textObject('plain_text', 150) },
          },
          {
            type: 'object',
            required: ['type'],
            anyOf: [{ required: ['text'] }, { required: ['fields'] }],
            additionalProperties: false,
            properties: {
              type: { const: 'section' },
              text: textObject('any', 3000),
              fields: { type: 'array', minItems: 1, maxItems: 10, items: textObject('any', 2000) },
            },
          },
          {
            type: 'object',
            required: ['type', 'elements'],
            additionalProperties: false,
            properties: {
              type: { const: 'context' },
              elements: { type: 'array', minItems: 1, maxItems: 10, items: textObject('any', 3000) },
            },
          },
          {
            type: 'object',
            required: ['type'],
            additionalProperties: false,
            properties: { type: { const: 'divider' } },
          },
        ],
      },
    },
  },
});

/** https://developers.google.com/workspace/chat/format-messages: a text message. */
const googleChatSchema = ajv.compile({
  type: 'object',
  required: ['text'],
  additionalProperties: false,
  properties: { text: { type: 'string', minLength: 1, maxLength: 4096 } },
});

const dataSchema: object = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'schemas', 'notification-data.schema.json'), 'utf8'),
) as object;
ajv.addSchema(dataSchema);

/** CloudEvents 1.0, JSON format, structured mode: the required attributes and the optional ones confighash sets. */
const cloudEventSchema = ajv.compile({
  type: 'object',
  required: ['specversion', 'id', 'source', 'type'],
  properties: {
    specversion: { const: '1.0' },
    id: { type: 'string', minLength: 1 },
    source: { type: 'string', minLength: 1, format: 'uri-reference' },
    type: { type: 'string', minLength: 1, pattern: '^dev\\.confighash\\.' },
    subject: { type: 'string', minLength: 1 },
    time: { type: 'string', format: 'date-time' },
    datacontenttype: { const: 'application/json' },
    dataschema: { type: 'string', format: 'uri' },
    data: { $ref: 'https://confighash.dev/schemas/notification-data.schema.json' },
  },
});

export function slackProblems(message: unknown): string[] {
  return problemsOf(slackSchema, message);
}

export function googleChatProblems(message: unknown): string[] {
  return problemsOf(googleChatSchema, message);
}

export function cloudEventProblems(event: unknown, contentType: string | undefined): string[] {
  const problems = problemsOf(cloudEventSchema, event);
  if (!/^application\/cloudevents\+json(;|$)/.test(contentType ?? ''))
    problems.push(`content-type ${contentType ?? '(none)'} is not application/cloudevents+json`);
  return problems;
}

/**
 * https://adaptivecards.io/explorer/ (1.4): the card and the elements confighash
 * uses, every property typed, nothing else allowed. The SDK below checks element
 * types and values against the declared version; this checks types and shape.
 */
const adaptiveCardSchema = ajv.compile({
  type: 'object',
  required: ['type', 'version', 'body'],
  additionalProperties: false,
  properties: {
    $schema: { const: 'http://adaptivecards.io/schemas/adaptive-card.json' },
    type: { const: 'AdaptiveCard' },
    version: { type: 'string' },
    body: {
      type: 'array',
      items: {
        oneOf: [
          {
            type: 'object',
            required: ['type', 'text'],
            additionalProperties: false,
            properties: {
              type: { const: 'TextBlock' },
              text: { type: 'string' },
              wrap: { type: 'boolean' },
              isSubtle: { type: 'boolean' },
              weight: { enum: ['Default', 'Lighter', 'Bolder'] },
              size: { enum: ['Default', 'Small', 'Medium', 'Large', 'ExtraLarge'] },
              color: { enum: ['Default', 'Dark', 'Light', 'Accent', 'Good', 'Warning', 'Attention'] },
            },
          },
          {
            type: 'object',
            required: ['type', 'facts'],
            additionalProperties: false,
            properties: {
              type: { const: 'FactSet' },
              facts: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['title', 'value'],
                  additionalProperties: false,
                  properties: { title: { type: 'string' }, value: { type: 'string' } },
                },
              },
            },
          },
        ],
      },
    },
  },
});

interface AdaptiveCardsSdk {
  AdaptiveCard: new () => { parse(json: unknown, context: unknown): void };
  SerializationContext: new (version: unknown) => { eventCount: number; getEventAt(i: number): { message: string } };
  Versions: { getAllDeclaredVersions(): { toString(): string }[] };
}
// Its ES module build does not load in Node; its UMD build does.
const sdk = createRequire(import.meta.url)('adaptivecards/dist/adaptivecards.js') as AdaptiveCardsSdk;

/** A Workflows webhook message: one Adaptive Card attachment, valid for the version the card declares, within Teams' 28 KB. */
export function teamsProblems(message: unknown, bytes: number): string[] {
  const problems: string[] = bytes > 28 * 1024 ? [`${bytes} bytes is over Teams' 28 KB`] : [];
  const { type, attachments } = message as {
    type?: unknown;
    attachments?: { contentType?: unknown; content?: unknown }[];
  };
  if (type !== 'message') problems.push('type is not "message"');
  if (!Array.isArray(attachments) || attachments.length !== 1) return [...problems, 'not exactly one attachment'];
  const [attachment] = attachments;
  if (attachment?.contentType !== 'application/vnd.microsoft.card.adaptive')
    problems.push('the attachment is not an Adaptive Card');
  return [...problems, ...cardProblems(attachment?.content)];
}

function cardProblems(content: unknown): string[] {
  const card = content as { type?: unknown; version?: unknown } | undefined;
  if (card?.type !== 'AdaptiveCard' || typeof card.version !== 'string')
    return ['the content is not an AdaptiveCard with a version'];
  const declared = card.version;
  const version = sdk.Versions.getAllDeclaredVersions().find((v) => v.toString() === declared);
  if (!version) return [`version ${declared} is not an Adaptive Card version`];
  const problems = problemsOf(adaptiveCardSchema, card);
  const context = new sdk.SerializationContext(version);
  new sdk.AdaptiveCard().parse(card, context);
  for (let i = 0; i < context.eventCount; i++) problems.push(context.getEventAt(i).message);
  return problems;
}
