/**
 * Finding 1 of the enforcement review: mailgate and the upstream must agree on who the user is.
 * Real providers' Dovecots normalise names (`auth_username_format = %Ln` drops the domain and
 * lower-cases; `auth_default_realm` adds one). Before the fix mailgate decided enforcement on the
 * name as typed (`alice` is in no enforced domain) while Dovecot logged in alice@example.com with
 * her main password. Each flavour below is a Dovecot configured as providers do; mailgate runs
 * with `identity: { default_domain: example.com, domains: [example.com] }` and
 * `enforce: [example.com]`, and every spelling of alice's name must be her one enforced account.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { doctorCommand } from '../../src/cli/doctor.js';
import { totpCode } from '../../src/core/totp.js';
import { startDovecot, type DovecotInstance, type DovecotOptions, type TestUser } from '../../src/demo/dovecot.js';
import { startPostfix, type PostfixInstance } from '../../src/demo/postfix.js';
import { describeInterop } from '../support/interop.js';
import { gateConfigDoc, startGate, type Gate } from '../support/gate.js';
import { RawClient } from '../support/raw.js';
import { Browser, csrfOf, manualKeyOf } from './portal-harness.js';

const IDENTITY = { default_domain: 'example.com', domains: ['example.com'] };
const SPELLINGS = ['alice', 'ALICE', ' Alice@Example.COM', 'alice@example.com'];

interface Flavour {
  name: string;
  naming: DovecotOptions['naming'];
  /** How this Dovecot's passwd-file names the users. */
  users: TestUser[];
  /** The user name Dovecot logs for alice after it normalised it. */
  aliceUpstream: string;
  /** The realm is added to the master user's bare name too, so its passwd-file names it in full. */
  masterUser?: string;
  postfix?: boolean;
}

const FLAVOURS: Flavour[] = [
  {
    name: 'auth_username_format = %Ln (domain dropped, lower-cased)',
    naming: { usernameFormat: '%Ln' },
    users: [
      { user: 'alice', password: 'alice-main-pw' },
      { user: 'bob', password: 'bob-main-pw' },
    ],
    aliceUpstream: 'alice',
    postfix: true,
  },
  {
    name: 'auth_default_realm = example.com (domain added to bare names)',
    naming: { defaultRealm: 'example.com' },
    users: [
      { user: 'alice@example.com', password: 'alice-main-pw' },
      { user: 'bob@example.com', password: 'bob-main-pw' },
    ],
    aliceUpstream: 'alice@example.com',
    masterUser: 'mailgate@example.com',
  },
  {
    name: 'plain %u (names looked up as typed)',
    naming: {},
    users: [
      { user: 'alice@example.com', password: 'alice-main-pw' },
      { user: 'bob@example.com', password: 'bob-main-pw' },
    ],
    aliceUpstream: 'alice@example.com',
  },
];

const quote = (s: string) => `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`;

for (const f of FLAVOURS) {
  describeInterop(`finding 1: one identity — Dovecot with ${f.name}`, f.postfix ? ['dovecot', 'postfix'] : ['dovecot'], () => {
    let dovecot: DovecotInstance;
    let postfix: PostfixInstance | undefined;
    let gate: Gate;
    let passcode: string;

    /** A LOGIN over implicit TLS through mailgate; returns the tagged answer. */
    const login = async (user: string, secret: string): Promise<string> => {
      const c = await RawClient.connect(gate.imapsPort, { tls: true, ca: gate.ca });
      try {
        await c.until(/^\* OK/);
        return (await c.cmd('a1', `LOGIN ${quote(user)} ${quote(secret)}`)).at(-1)!;
      } finally {
        c.close();
      }
    };
    const dovecotLogins = () => (dovecot.log().match(/imap-login: Login: user=<[^>]*>/g) ?? []).length;

    beforeAll(async () => {
      dovecot = await startDovecot({
        users: f.users,
        naming: f.naming,
        ...(f.masterUser ? { master: { user: f.masterUser, password: 'master-pw-0123456789' } } : {}),
      });
      if (f.postfix) postfix = await startPostfix({ dovecot });
      gate = await startGate(dovecot, { identity: IDENTITY, policy: { enforce: ['example.com'] } }, postfix);
      // An admin types the short name too: it is the same account.
      passcode = (await gate.server.core.manager.createPasscode('Alice', { name: 'tb', scopes: ['imap', 'smtp'] })).formatted;
      await gate.server.core.manager.setEnforcement('bob', false); // bob: never enforced (passthrough)
    }, 40_000);
    afterAll(async () => {
      await gate?.close();
      await postfix?.stop();
      await dovecot?.stop();
    });

    it('finding 1: the main password is refused for every spelling of an enforced name', async () => {
      const before = dovecotLogins();
      for (const u of SPELLINGS) expect(await login(u, 'alice-main-pw'), u).toMatch(/^a1 NO \[AUTHENTICATIONFAILED\]/);
      expect(dovecotLogins()).toBe(before);
      const audit = await gate.server.core.store.queryAudit({ username: 'alice@example.com', type: 'auth' });
      expect(audit.filter((e) => e.reason === 'not-a-passcode')).toHaveLength(SPELLINGS.length);
    });

    it('finding 1: a name in a domain not served here is refused before the upstream is asked', async () => {
      const before = dovecot.log().length;
      expect(await login('alice@other.org', 'alice-main-pw')).toMatch(/^a1 NO \[AUTHENTICATIONFAILED\]/);
      expect(await login('alice*mailgate', 'alice-main-pw')).toMatch(/^a1 NO \[AUTHENTICATIONFAILED\]/);
      expect(dovecot.log().slice(before)).not.toMatch(/other\.org|alice\*mailgate/);
    });

    it('finding 1: the passcode opens the one account, whatever spelling, and the upstream logs in that account', async () => {
      for (const u of ['alice', 'Alice@EXAMPLE.com']) expect(await login(u, passcode), u).toMatch(/^a1 OK/);
      expect(dovecot.log()).toContain(`Login: user=<${f.aliceUpstream}>`);
      // The passthrough account goes upstream under its canonical name too (bob → bob@example.com).
      expect(await login('BOB', 'bob-main-pw')).toMatch(/^a1 OK/);
      expect(await login('bob', 'wrong')).toMatch(/^a1 NO \[AUTHENTICATIONFAILED\]/);
      const upstreamAudit = await gate.server.core.store.queryAudit({ username: 'bob@example.com', type: 'auth' });
      expect(upstreamAudit.map((e) => e.outcome)).toEqual(['passthrough', 'upstream-accept', 'passthrough', 'upstream-reject']);
    });

    it('finding 1: doctor probes how the upstream normalises names and names the identity keys to set', async () => {
      const doctor = async (identity: Record<string, unknown> | undefined): Promise<{ code: number; out: string }> => {
        const file = join(gate.dir, `doctor-${identity ? 'with' : 'without'}.yaml`);
        const doc = gateConfigDoc(dovecot, gate.dir, { policy: { enforce: ['example.com'] } });
        if (identity) doc.identity = identity;
        else delete doc.identity;
        writeFileSync(file, stringify(doc));
        const lines: string[] = [];
        const code = await doctorCommand(['--config', file, '--user', 'alice@example.com'], {
          out: (t) => lines.push(t),
          err: (t) => lines.push(t),
          env: process.env,
        });
        return { code, out: lines.join('\n') };
      };
      const without = await doctor(undefined);
      const fixed = await doctor(IDENTITY);
      expect(fixed.out).toMatch(/ok +identity: the upstream and mailgate agree on who alice@example\.com is/);
      expect(fixed.code).toBe(0);
      if (f.naming?.usernameFormat === '%Ln') {
        // This Dovecot logs in "alice" and "alice@unlisted-domain.invalid" as alice: both keys are needed.
        expect(without.code).toBe(1);
        expect(without.out).toMatch(
          /FAIL +identity: .*"alice".*set identity\.default_domain: example\.com.*set identity\.domains: \[ example\.com \]/,
        );
      } else if (f.naming?.defaultRealm) {
        expect(without.out).toMatch(/FAIL +identity: .*"alice".*set identity\.default_domain: example\.com/);
        expect(without.out).not.toMatch(/identity\.domains/);
      } else {
        expect(without.code).toBe(0); // names looked up as typed: nothing to walk around
      }
    }, 60_000);

    if (f.postfix) {
      it('finding 1: SMTP — the main password is refused for the short name; XCLIENT logs in the canonical account', async () => {
        const auth = async (user: string, secret: string): Promise<string> => {
          const c = await RawClient.connect(gate.smtpsPort, { tls: true, ca: gate.ca });
          try {
            await c.until(/^220 /);
            c.send('EHLO identity.test\r\n');
            await c.until(/^250 /);
            c.send(`AUTH PLAIN ${Buffer.from(`\0${user}\0${secret}`).toString('base64')}\r\n`);
            const answer = (await c.until(/^\d{3} /)).at(-1)!;
            if (answer.startsWith('235')) {
              // Postfix names the SASL user in the log line of a queue file: start a transaction.
              c.send('MAIL FROM:<alice@example.com>\r\n');
              await c.until(/^\d{3} /);
              c.send('RCPT TO:<bob@example.com>\r\n');
              await c.until(/^\d{3} /);
              c.send('QUIT\r\n');
              await c.until(/^221 /);
            }
            return answer;
          } finally {
            c.close();
          }
        };
        expect(await auth('alice', 'alice-main-pw')).toMatch(/^535 5\.7\.8/);
        expect(await auth('alice@other.org', 'alice-main-pw')).toMatch(/^535 5\.7\.8/);
        expect(await auth('alice', passcode)).toMatch(/^235 /);
        const deadline = Date.now() + 5_000;
        while (!/sasl_method=XCLIENT, sasl_username=alice@example\.com/.test(postfix!.log()) && Date.now() < deadline)
          await new Promise((r) => setTimeout(r, 50));
        expect(postfix!.log()).toMatch(/sasl_method=XCLIENT, sasl_username=alice@example\.com/);
      });
    }
  });
}

describeInterop('finding 1: one identity in the portal (enforce: all, Dovecot with %Ln)', ['dovecot'], () => {
  let dovecot: DovecotInstance;
  let gate: Gate;

  beforeAll(async () => {
    dovecot = await startDovecot({ users: [{ user: 'alice', password: 'alice-main-pw' }], naming: { usernameFormat: '%Ln' } });
    gate = await startGate(dovecot, { identity: IDENTITY, policy: { enforce: 'all' }, portal: { listen: { host: '127.0.0.1', port: 0 } } });
  }, 40_000);
  afterAll(async () => {
    await gate?.close();
    await dovecot?.stop();
  });

  it("finding 1: signing in as the short name still needs the owner's second factor", async () => {
    const url = gate.server.portal!.url.replace(/\/$/, '');
    // The owner enrols as alice@example.com.
    const owner = new Browser(url);
    expect((await owner.submit('/signin', { username: 'alice@example.com', password: 'alice-main-pw' })).headers.get('location')).toBe('/');
    const page = await owner.get('/enable');
    const done = await owner.follow(
      await owner.request('POST', '/enable', { _csrf: csrfOf(page.text), code: totpCode(manualKeyOf(page.text), Date.now()) }),
    );
    expect(done.status).toBe(200);
    // The attack: the same main password under the short name. Before the fix this was another,
    // un-enrolled portal account: full access, an attacker's authenticator, fresh passcodes.
    for (const typed of ['alice', 'ALICE@example.com']) {
      const attacker = new Browser(url);
      const r = await attacker.submit('/signin', { username: typed, password: 'alice-main-pw' });
      expect(r.headers.get('location'), typed).toBe('/verify');
      expect((await attacker.get('/enable')).status).not.toBe(200);
      expect((await attacker.get('/passcodes')).status).not.toBe(200);
    }
    const signins = await gate.server.core.store.queryAudit({ type: 'portal.signin' });
    expect(signins.map((e) => e.username)).toEqual(['alice@example.com', 'alice@example.com', 'alice@example.com']);
  });
});
