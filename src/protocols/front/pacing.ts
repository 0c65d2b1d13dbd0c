/**
 * When a failed login is answered. Every failure — a refused passcode, a main password on an
 * enforced account, a password the upstream refused (after its own auth_failure_delay), an
 * unknown account, malformed input — is answered at the same moment measured from when the login
 * command arrived: the guard's delay plus random jitter. Otherwise the answer time tells an
 * attacker which accounts are enforced (mailgate's fixed delay) and which are checked upstream
 * (the upstream's own, differently shaped delay). A blocked source (delay 0) is answered at once.
 */
import { randomInt } from 'node:crypto';
import { performance } from 'node:perf_hooks';

export interface LoginTimer {
  /** Resolves when the failure answer is due: arrival + delayMs + jitter (at once for 0). */
  failureDue(delayMs: number): Promise<void>;
}

/** Starts timing a login at the moment its command arrived. */
export function startLoginTimer(jitterMs: number, random: (max: number) => number = (max) => randomInt(max)): LoginTimer {
  const t0 = performance.now();
  return {
    async failureDue(delayMs) {
      if (delayMs <= 0) return;
      const jitter = jitterMs > 0 ? random(jitterMs + 1) : 0;
      const left = t0 + delayMs + jitter - performance.now();
      if (left > 0) await new Promise((r) => setTimeout(r, left));
    },
  };
}
