// The process logger: JSON lines by default, pino-pretty for `log.format: pretty`; passwords redacted.

import pino, { type Logger } from 'pino';
import type { Config } from './config.js';

export function createLogger(config: Readonly<Config>): Logger {
  const redact = {
    paths: ['password', '*.password', 'users[*].password', 'config.users[*].password'],
    censor: '[redacted]',
  };
  if (config.log.format === 'pretty') {
    return pino({
      level: config.log.level,
      redact,
      transport: {
        target: 'pino-pretty',
        options: { colorize: true, singleLine: true, ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l' },
      },
    });
  }
  return pino({ level: config.log.level, redact });
}
