/**
 * Structured JSON-lines logging (pino). Secrets must never reach the log: the redact list below is a
 * safety net for mistakes, not a licence to log credential-bearing objects.
 */
import { pino } from 'pino';

export type Logger = pino.Logger;

export interface LoggerOptions {
  level?: string;
  /** A stream, or a file descriptor (1 = stdout, 2 = stderr). Default: stdout. */
  destination?: NodeJS.WritableStream | number;
  /** Pretty printing is deliberately unsupported: logs are machine-read JSON lines. */
  pretty?: false;
  /** Fields on every line besides `service`, e.g. `{ worker: 1 }` in a cluster worker. */
  base?: Record<string, unknown>;
}

/** Field paths whose values are replaced by '[redacted]' wherever a caller logs them. */
export const REDACT_PATHS: readonly string[] = [
  'password',
  'pass',
  'secret',
  'passcode',
  'masterPassword',
  '*.password',
  '*.pass',
  '*.secret',
  '*.passcode',
  '*.masterPassword',
];

/** Creates the process logger: JSON lines with ISO timestamps, `service: 'mailgate'`, secrets redacted. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const options: pino.LoggerOptions = {
    level: opts.level ?? 'info',
    base: { service: 'mailgate', ...opts.base },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
  };
  const dest = opts.destination ?? 1;
  // A number is a file descriptor: pino wraps it in a SonicBoom that it flushes on process exit.
  return typeof dest === 'number' ? pino(options, pino.destination(dest)) : pino(options, dest);
}

/** A logger that discards everything; for tests and library use without output. */
export const silentLogger: Logger = pino({ level: 'silent' });
