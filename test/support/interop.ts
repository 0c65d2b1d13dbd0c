/**
 * describeInterop: runs a suite that needs real Dovecot/Postfix. Missing components skip the
 * suite with a visible warning and the install command — or fail it under
 * MAILGATE_REQUIRE_INTEROP=1 (CI), so a missing install can never pass silently.
 */
import { describe, it } from 'vitest';
import { interopStatus, REQUIRE_INTEROP } from '../../src/testbed/interop.js';

export type Component = 'dovecot' | 'postfix';

export function describeInterop(name: string, needs: Component[], fn: () => void): void {
  const status = interopStatus();
  const missing = needs.filter((c) => !status[c]);
  if (missing.length === 0) { describe(name, fn); return; }
  const why = `${missing.join(' and ')} not available: ${status.hint}`;
  if (REQUIRE_INTEROP) {
    describe(name, () => { it('needs real mail servers (MAILGATE_REQUIRE_INTEROP=1)', () => { throw new Error(why); }); });
    return;
  }
  console.warn(`[interop] skipping "${name}": ${why}`);
  describe.skip(`${name} [skipped: ${why}]`, fn);
}
