/**
 * Debian's Chromium driven by playwright-core, for the portal's browser tests. Chromium is a hard
 * requirement in CI (MAILGATE_REQUIRE_INTEROP=1), like Dovecot: missing, the suite fails instead
 * of skipping.
 */
import { existsSync } from 'node:fs';
import { describe, it } from 'vitest';
import { REQUIRE_INTEROP } from './interop.js';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** describe() when Chromium is installed; else a failing test (CI) or a skip with the install hint. */
export function describeChromium(name: string, fn: () => void, withChromium: (name: string, fn: () => void) => void = describe): void {
  if (existsSync(CHROMIUM)) {
    withChromium(name, fn);
    return;
  }
  const why = `${CHROMIUM} not found: apt-get install -y chromium fonts-dejavu-core`;
  if (REQUIRE_INTEROP) {
    describe(name, () => {
      it('needs Chromium (MAILGATE_REQUIRE_INTEROP=1)', () => {
        throw new Error(why);
      });
    });
    return;
  }
  console.warn(`[browser] skipping "${name}": ${why}`);
  describe.skip(`${name} [skipped: ${why}]`, fn);
}
