// The structured logger (pino, JSON to stdout). Created once and passed in.
// confighash never logs configuration values; the redaction is a second line of
// defence should an object ever reach a log call by mistake.
import { type Logger, pino } from 'pino';

export type { Logger };

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export function createLogger(level: LogLevel, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'confighash' },
      redact: {
        paths: ['data', 'stringData', 'binaryData', '*.data', '*.stringData', '*.binaryData'],
        censor: '[redacted]',
      },
    },
    destination ?? process.stdout,
  );
}
