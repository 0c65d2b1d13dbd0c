/**
 * Refused connections (per-address pre-login cap; no valid PROXY header) logged as one summary
 * line per source per minute instead of one line each: an office behind one NAT address that hits the cap must not
 * fill the disk (imaptest saw 115,588 warn lines, 47 MB, in ten minutes with one line each).
 */
import type { Logger } from '../../runtime/logger.js';

export interface RefusalLog {
  /** Counts a refusal; logs at once for the first of a source in its minute. */
  refused(ip: string): void;
  /** Logs what is pending and stops the timer. */
  stop(): void;
}

/** Sources with refusals are kept at most this many at once; more are summed up in one line. */
const MAX_SOURCES = 10_000;

/** The log lines: the first of a source, a source's summary, the sources beyond MAX_SOURCES. */
export interface RefusalWords {
  one: string;
  many: string;
  further: string;
}

const PRE_LOGIN_CAP: RefusalWords = {
  one: 'connection refused: too many pre-login connections from this address',
  many: 'connections refused: too many pre-login connections from this address',
  further: 'connections refused: too many pre-login connections (further sources)',
};

/** Connections dropped before the greeting on a proxy_protocol listener (net/proxied.ts). */
export const PROXY_REFUSED: RefusalWords = {
  one: 'connection refused: no valid PROXY header from a proxy_from address',
  many: 'connections refused: no valid PROXY header from a proxy_from address',
  further: 'connections refused: no valid PROXY header (further sources)',
};

/** `windowMs` is one minute in production; tests pass less. */
export function refusalLog(
  log: Logger,
  fields: Record<string, unknown>,
  windowMs = 60_000,
  words: RefusalWords = PRE_LOGIN_CAP,
): RefusalLog {
  // ip → refusals since its last line; a source appears here only during its minute.
  let counts = new Map<string, number>();
  let overflow = 0;
  let timer: NodeJS.Timeout | null = null;
  const flush = () => {
    const previous = counts;
    counts = new Map();
    timer = null;
    for (const [ip, n] of previous) if (n > 0) log.warn({ ...fields, ip, refused: n, windowSecs: windowMs / 1000 }, words.many);
    if (overflow > 0) log.warn({ ...fields, refused: overflow, windowSecs: windowMs / 1000 }, words.further);
    overflow = 0;
    // Keep the window going while sources are still being refused (their entries restart at 0).
    for (const ip of previous.keys()) if (previous.get(ip)! > 0) counts.set(ip, 0);
    if (counts.size > 0) arm();
  };
  const arm = () => {
    timer = setTimeout(flush, windowMs);
    timer.unref();
  };
  return {
    refused(ip) {
      const n = counts.get(ip);
      if (n === undefined) {
        if (counts.size >= MAX_SOURCES) {
          overflow++;
          return;
        }
        // The first refusal of a source in its window is logged at once, so an admin sees it now.
        counts.set(ip, 0);
        log.warn({ ...fields, ip, refused: 1 }, words.one);
        if (!timer) arm();
        return;
      }
      counts.set(ip, n + 1);
    },
    stop() {
      if (timer) clearTimeout(timer);
      const pending = [...counts.values()].some((n) => n > 0) || overflow > 0;
      if (pending) flush();
      if (timer) clearTimeout(timer);
      timer = null;
    },
  };
}
