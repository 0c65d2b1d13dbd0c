/**
 * Security-review findings 2 and 3, reproduced against a real Dovecot through mailgate: the
 * portal must not undo an admin's enforcement, and (with `portal.first_enrolment: code`) knowing
 * the main password must not be enough to turn on 2FA for an account that has none yet.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { accountsCommand } from '../../src/cli/accounts.js';
import { totpCommand } from '../../src/cli/totp.js';
import type { Io } from '../../src/cli/util.js';
import { totpCode } from '../../src/core/totp.js';
import { startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';
import { gateConfigDoc, startGate, type Gate, type Overrides } from '../support/gate.js';
import { describeInterop } from '../support/interop.js';
import { RawClient } from '../support/raw.js';
import { Browser, csrfOf, manualKeyOf } from './portal-harness.js';

const BOB = { user: 'bob@example.com', password: 'bob-main-pw' };
const CAROL = { user: 'carol@example.com', password: 'carol-main-pw' };

/** Runs a CLI command function against the gate's configuration (the admin's shell). */
export async function cli(cmd: (argv: string[], io: Io) => Promise<number>, args: string[], configFile: string) {
  let out = '';
  let err = '';
  const io: Io = {
    out: (t) => {
      out += `${t}\n`;
    },
    err: (t) => {
      err += `${t}\n`;
    },
    env: {},
  };
  const code = await cmd([...args, '--config', configFile], io);
  return { code, out, err };
}

/** A gate with the portal on, and its configuration written where the CLI reads it. */
async function gateWithPortal(
  dovecot: DovecotInstance,
  over: Overrides,
): Promise<{ gate: Gate; configFile: string; browser: () => Browser }> {
  const overrides = { portal: { listen: { host: '127.0.0.1', port: 0 } }, ...over };
  const gate = await startGate(dovecot, overrides);
  const configFile = join(gate.dir, 'mailgate.yaml');
  writeFileSync(configFile, stringify(gateConfigDoc(dovecot, gate.dir, overrides)));
  const port = gate.server.portal!.address.port;
  return { gate, configFile, browser: () => new Browser(`http://127.0.0.1:${port}`) };
}

/** LOGIN with the main password through mailgate (implicit TLS); returns the tagged answer. */
async function imapLogin(gate: Gate, user: string, password: string): Promise<string> {
  const c = await RawClient.connect(gate.imapsPort, { tls: true, ca: gate.ca });
  try {
    await c.until(/^\* OK/);
    return (await c.cmd('a1', `LOGIN "${user}" "${password}"`)).at(-1)!;
  } finally {
    c.close();
  }
}

describeInterop('security findings: enrolment and enforcement ownership', ['dovecot'], () => {
  let dovecot: DovecotInstance;

  beforeAll(async () => {
    dovecot = await startDovecot({ users: [BOB, CAROL] });
  }, 30_000);
  afterAll(async () => {
    await dovecot?.stop();
  });

  it("finding 2: an admin's enforcement survives the user's portal enrol and disable", async () => {
    const { gate, configFile, browser } = await gateWithPortal(dovecot, { policy: { enforce: [] } });
    try {
      expect(await imapLogin(gate, BOB.user, BOB.password)).toMatch(/^a1 OK/); // not enforced yet
      expect((await cli(accountsCommand, ['enforce', BOB.user], configFile)).code).toBe(0);
      expect(await imapLogin(gate, BOB.user, BOB.password)).toMatch(/^a1 NO \[AUTHENTICATIONFAILED\]/);

      // Bob (or whoever has his main password) has no 2FA yet: the password alone signs in.
      const b = browser();
      expect((await b.signIn(BOB.user, BOB.password)).headers.get('location')).toBe('/');
      const page = await b.get('/enable');
      const secret = manualKeyOf(page.text);
      const on = await b.follow(await b.request('POST', '/enable', { _csrf: csrfOf(page.text), code: totpCode(secret, Date.now()) }));
      expect(on.text).toContain('Two-factor authentication is on');

      // Turning it off again is refused: the admin, not bob, required it. The next TOTP step is
      // used so that a refusal cannot come from the replay guard.
      const disable = await b.get('/disable');
      expect(disable.text).toContain('requires two-factor authentication for this account');
      const off = await b.request('POST', '/disable', { _csrf: csrfOf(disable.text), code: totpCode(secret, Date.now() + 30_000) });
      expect(off.status).toBe(400);
      expect(await gate.server.core.store.getAccount(BOB.user)).toMatchObject({ enforced: true, enforcedBy: 'admin' });
      expect(await imapLogin(gate, BOB.user, BOB.password)).toMatch(/^a1 NO \[AUTHENTICATIONFAILED\]/);
      const shown = JSON.parse((await cli(accountsCommand, ['show', BOB.user, '--json'], configFile)).out) as Record<string, unknown>;
      expect(shown).toMatchObject({ enforced: true, override: true, enforcedBy: 'admin' });
    } finally {
      await gate.close();
    }
  }, 60_000);

  it('finding 3: with first_enrolment code, the main password alone cannot enrol', async () => {
    const { gate, configFile, browser } = await gateWithPortal(dovecot, {
      policy: { enforce: [CAROL.user] },
      portal: { listen: { host: '127.0.0.1', port: 0 }, first_enrolment: 'code' },
    });
    const issued: string[] = [];
    const issue = async (args: string[] = []) => {
      const r = await cli(totpCommand, ['enrol-code', CAROL.user, ...args], configFile);
      const code = /^ {4}([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})$/m.exec(r.out)?.[1];
      expect([r.code, code]).toEqual([0, expect.any(String)]);
      issued.push(code!);
      return code!;
    };
    /** One enable attempt on the page the browser is shown; returns the answer and the TOTP secret. */
    const tryEnable = async (b: Browser, enrolCode: string | null, at = Date.now()) => {
      const page = await b.get('/enable');
      const secret = manualKeyOf(page.text);
      const form: Record<string, string> = { _csrf: csrfOf(page.text), code: totpCode(secret, at) };
      if (enrolCode !== null) form.enrol_code = enrolCode;
      return { res: await b.follow(await b.request('POST', '/enable', form)), secret, page };
    };
    const refused = (res: { status: number; text: string }) =>
      res.status === 400 && res.text.includes('That enrolment code is not right or has expired');
    const enabled = async () => !!(await gate.server.core.store.getTotp(CAROL.user))?.secret;
    try {
      // The attacker has carol's main password: it signs in to the portal (carol has no 2FA yet)…
      const thief = browser();
      expect((await thief.signIn(CAROL.user, CAROL.password)).headers.get('location')).toBe('/');
      const first = await tryEnable(thief, null);
      expect(first.page.text).toContain('Your mail administrator gave you an enrolment code');
      expect(first.page.text).toContain('name="enrol_code"');
      // …but cannot turn 2FA on: no code, a guessed one, an expired one (nothing issued yet
      // and a real but wrong code get the same words).
      expect(refused(first.res)).toBe(true);
      expect(refused((await tryEnable(thief, 'abcd-efgh-jkmn')).res)).toBe(true);
      const expired = await issue(['--expires', '1s']);
      await new Promise((r) => setTimeout(r, 1_100));
      expect(refused((await tryEnable(thief, expired)).res)).toBe(true);
      expect(await enabled()).toBe(false);
      expect((await thief.get('/passcodes')).headers.get('location')).toBe('/?notice=need-2fa');
      expect(await imapLogin(gate, CAROL.user, CAROL.password)).toMatch(/^a1 NO \[AUTHENTICATIONFAILED\]/);

      // Carol, with the code her admin gave her, turns it on once; the thief's session ends.
      const code = await issue();
      const carol = browser();
      await carol.signIn(CAROL.user, CAROL.password);
      const ok = await tryEnable(carol, code.toUpperCase());
      expect(ok.res.text).toContain('Two-factor authentication is on');
      expect(await enabled()).toBe(true);
      expect((await thief.get('/passcodes')).headers.get('location')).toBe('/signin?notice=expired');

      // Lost phone: reset prints a new code; the used one does not enrol again, the new one does.
      const reset = await cli(totpCommand, ['reset', CAROL.user], configFile);
      const fresh = /^ {4}([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})$/m.exec(reset.out)?.[1];
      expect([reset.code, fresh]).toEqual([0, expect.any(String)]);
      issued.push(fresh!);
      const again = browser();
      expect((await again.signIn(CAROL.user, CAROL.password)).headers.get('location')).toBe('/');
      const next = Date.now() + 30_000; // a later TOTP step than the one spent above
      expect(refused((await tryEnable(again, code, next)).res)).toBe(true);
      expect(await enabled()).toBe(false);
      expect((await tryEnable(again, fresh!, next)).res.text).toContain('Two-factor authentication is on');

      const audit = await gate.server.core.store.queryAudit({ username: CAROL.user, type: 'totp.enrol-code', limit: 100 });
      expect(audit.map((e) => `${e.outcome}:${e.reason ?? ''}`)).toEqual([
        'reject:wrong',
        'reject:wrong',
        'ok:',
        'reject:expired',
        'ok:',
        'accept:',
        'ok:',
        'reject:wrong',
        'accept:',
      ]);
      const dump = JSON.stringify(await gate.server.core.store.queryAudit({ limit: 1000 }));
      for (const c of issued)
        for (const form of [c, c.replace(/-/g, '')]) {
          expect(gate.logs()).not.toContain(form);
          expect(dump).not.toContain(form);
        }
    } finally {
      await gate.close();
    }
  }, 60_000);
});
