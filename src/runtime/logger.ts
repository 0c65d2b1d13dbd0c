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

/**
 * Field names whose values are replaced by '[redacted]' wherever a caller logs them: at the top of a
 * line's object, in a child logger's bindings, and one level down (`{ req: { password } }`).
 */
const REDACTED_KEYS: ReadonlySet<string> = new Set(['password', 'pass', 'secret', 'passcode', 'masterPassword']);
const CENSOR = '[redacted]';

/**
 * The object as logged, with every redacted key's value censored (a copy only when one is found).
 * This is pino's `redact` with the paths `k` and `*.k` for each key, done by hand: pino's generic
 * path redactor cost ~4 µs per line (8 of the 16.5 µs a login's two lines cost; micro-benchmark
 * in the issue 12 note), this a few hundred nanoseconds.
 */
function redactSecrets(o: Record<string, unknown>): Record<string, unknown> {
  let out = o;
  for (const k of Object.keys(o)) {
    const v = o[k];
    const nested = v !== null && typeof v === 'object' && !Array.isArray(v) && !ArrayBuffer.isView(v);
    const nv = REDACTED_KEYS.has(k) ? CENSOR : nested ? censorOwn(v) : v;
    if (nv === v) continue;
    if (out === o) out = { ...o };
    out[k] = nv;
  }
  return out;
}

/** `v` with its own redacted keys censored: a copy keeping its prototype and every property (an Error's message and stack too). */
function censorOwn(v: object): object {
  let copy: Record<string, unknown> | null = null;
  for (const k of Object.keys(v)) {
    if (!REDACTED_KEYS.has(k)) continue;
    copy ??= Object.create(Object.getPrototypeOf(v), Object.getOwnPropertyDescriptors(v)) as Record<string, unknown>;
    copy[k] = CENSOR;
  }
  return copy ?? v;
}

/** Creates the process logger: JSON lines with ISO timestamps, `service: 'mailgate'`, secrets redacted. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const options: pino.LoggerOptions = {
    level: opts.level ?? 'info',
    base: redactSecrets({ service: 'mailgate', ...opts.base }), // pino's redact covered base too
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { log: redactSecrets },
  };
  const dest = opts.destination ?? 1;
  // A number is a file descriptor: pino wraps it in a SonicBoom that it flushes on process exit.
  const log = typeof dest === 'number' ? pino(options, pino.destination(dest)) : pino(options, dest);
  // A child's bindings skip formatters.log (and pino swaps the bindings formatter out for children):
  // censored on the way in. Children are made with Object.create(parent), so theirs is this one too.
  const child = log.child;
  log.child = function (this: Logger, bindings, childOptions) {
    return child.call(this, redactSecrets(bindings), childOptions);
  } as Logger['child'];
  return log;
}

/** A logger that discards everything; for tests and library use without output. */
export const silentLogger: Logger = pino({ level: 'silent' });
