/**
 * Open-file limit: every spliced session holds two sockets (client and upstream), so the limit caps
 * the sessions a process can hold. Node itself raises its soft limit to the hard one at start
 * (checked: a process started with a soft limit of 512 and a hard one of 20000 sees 20000), so what
 * is left is to tell the admin when the hard limit is below 2 x limits.max_connections
 * (systemd: LimitNOFILE, see deploy/mailgate.service).
 */
import { readFileSync } from 'node:fs';

export interface NofileLimits {
  soft: number;
  hard: number;
}

/** Parses the "Max open files" line of /proc/<pid>/limits ("unlimited" → Infinity). */
export function parseNofile(limitsText: string): NofileLimits | null {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limitsText);
  if (!m) return null;
  const n = (v: string) => (v === 'unlimited' ? Infinity : Number(v));
  return { soft: n(m[1]!), hard: n(m[2]!) };
}

/** This process's limits, or null where /proc is not there. */
export function readNofile(): NofileLimits | null {
  try {
    return parseNofile(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    return null;
  }
}

/** Sessions the limit allows (two descriptors each, a few hundred kept for listeners, the store, logs). */
export function sessionsAllowed(limits: NofileLimits): number {
  return Math.max(0, Math.floor((limits.soft - 256) / 2));
}
