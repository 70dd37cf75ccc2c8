// The sinks confighash can send to, by the `type` a sink is configured with.
import { cloudevents } from './cloudevents.ts';
import { googleChat } from './google-chat.ts';
import type { SinkFormat } from './sink.ts';
import { slack } from './slack.ts';
import { teams } from './teams.ts';

export const SINK_FORMATS: Readonly<Record<string, SinkFormat>> = {
  slack,
  teams,
  'google-chat': googleChat,
  cloudevents,
};
