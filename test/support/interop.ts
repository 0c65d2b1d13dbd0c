/**
 * vitest helper for tests that need the real Dovecot/Postfix/PostgreSQL/HAProxy testbed (src/demo/).
 *
 *   describeInterop('imap proxy against Dovecot', ['dovecot'], () => { ... });
 *   describeInterop('imap proxy against Cyrus', ['cyrus'], () => { ... });   // scripts/install-cyrus.sh
 *
 * - components available            → describe(name, fn)
 * - missing, MAILGATE_REQUIRE_INTEROP=1 → one test that fails with the install hint
 * - missing otherwise               → describe.skip(name, fn) plus one console.warn line
 */
import { describe, it } from 'vitest';
import { interopStatus } from '../../src/demo/interop.js';

/** Set MAILGATE_REQUIRE_INTEROP=1 (CI) to turn "component missing → skipped" into a failure: test policy, not the product's. */
export const REQUIRE_INTEROP: boolean = process.env.MAILGATE_REQUIRE_INTEROP === '1';

export type InteropComponent = 'dovecot' | 'postfix' | 'cyrus' | 'postgres' | 'haproxy' | 'redis';

export function describeInterop(name: string, needs: InteropComponent[], fn: () => void): void {
  const status = interopStatus();
  const missing = needs.filter((n) => !status[n]);
  if (missing.length === 0) {
    describe(name, fn);
    return;
  }
  const hints = [...new Set(missing.map((n) => (n === 'cyrus' ? status.cyrusHint : status.hint)))];
  const msg = `${missing.join(' and ')} not available for "${name}"; install with: ${hints.join('; ')}`;
  if (REQUIRE_INTEROP) {
    describe(name, () => {
      it(`requires ${missing.join(', ')}`, () => {
        throw new Error(`${msg} (MAILGATE_REQUIRE_INTEROP=1 makes this a failure)`);
      });
    });
    return;
  }
  console.warn(`[interop] skipping: ${msg}`);
  describe.skip(name, fn);
}
