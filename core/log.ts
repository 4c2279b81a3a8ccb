// Structured JSON logs (pino). Fields that could carry secrets or personal data are
// redacted by path, as a second line of defence: code never passes them in the first place.

import pino, { type Logger } from 'pino';

export type { Logger };

const redact_paths = [
  '*.authorization', '*.Authorization', '*.apiv3_key', '*.private_key', '*.merchant_private_key_pem',
  '*.data_key', '*.payer', '*.openid', '*.auth_code', '*.card_token', '*.verification_code', '*.secret',
  'payer', 'openid', 'auth_code', 'card_token', 'settings',
];

export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { service: 'paycore', ...bindings },
    redact: { paths: redact_paths, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
