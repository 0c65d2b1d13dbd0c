/**
 * What the login paths (authenticate.ts, the portal) ask of the brute-force guard. Asynchronous,
 * because with several instances the guard's state lives in Redis (src/shared/redis-guard.ts) and
 * an attacker alternating between instances must meet one count; with one instance it is the
 * in-memory AuthGuard (guard.ts), wrapped here.
 */
import type { AuthGuard, PolicyName, Verdict } from './guard.js';

export interface Guard {
  /** Before any work: may this source try this account now? */
  check(ip: string, account: string | null): Promise<Verdict>;
  /** Records a failed login; resolves to how long to wait before answering it. */
  failure(ip: string, account: string | null, fingerprint: string): Promise<number>;
  /** A successful login (see AuthGuard.success). */
  success(ip: string, account: string): Promise<void>;
  /** A named policy's wait before (client, account) may try again (see AuthGuard.waitMs). */
  waitMs(policy: PolicyName, ip: string, account: string | null): Promise<number>;
  /** A named policy's failure; resolves to the wait it now imposes. */
  fail(policy: PolicyName, ip: string, account: string | null, fingerprint?: string): Promise<number>;
  /** A named policy's success. */
  succeed(policy: PolicyName, ip: string, account: string): Promise<void>;
  /** Lifts a block; accepts an address or a source as listed. */
  unblock(ipOrSource: string): Promise<boolean>;
  /** Sources blocked now. */
  blocks(): Promise<Array<{ source: string; until: number; failures: number }>>;
}

/** The in-memory guard behind the asynchronous interface (one instance, no Redis). */
export function localGuard(g: AuthGuard): Guard {
  return {
    check: async (ip, account) => g.check(ip, account),
    failure: async (ip, account, fp) => g.failure(ip, account, fp),
    success: async (ip, account) => g.success(ip, account),
    waitMs: async (policy, ip, account) => g.waitMs(policy, ip, account),
    fail: async (policy, ip, account, fp) => g.fail(policy, ip, account, fp),
    succeed: async (policy, ip, account) => g.succeed(policy, ip, account),
    unblock: async (src) => g.unblock(src),
    blocks: async () => g.blocks(),
  };
}
