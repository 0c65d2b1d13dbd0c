/**
 * Issue 14 part 5 through the CLI (its own core on the same database, like another process) and
 * a running gate in front of real Dovecot: a passcode limited to 127.0.0.1 logs in from there
 * only (the source address chosen with localAddress), the refusal is the plain line (the hint is
 * on) and audited with its reason; a live session from elsewhere ends when the limit is set;
 * rename shows in the listing.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { main } from '../../src/cli/index.js';
import { describeInterop } from '../support/interop.js';
import { gateConfigDoc, startGate, type Gate } from '../support/gate.js';
import { RawClient } from '../support/raw.js';
import { startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';

const ALICE = 'alice@example.com';
const OVERRIDES = { auth: { refusal_hint: true } };

describeInterop('per-passcode limits', ['dovecot'], () => {
  let dovecot: DovecotInstance;
  let gate: Gate;
  let configFile: string;

  const cli = async (...argv: string[]) => {
    let out = '';
    const io = {
      out: (t: string) => {
        out += `${t}\n`;
      },
      err: (t: string) => {
        out += t;
      },
      env: {},
    };
    const code = await main([...argv, '--config', configFile], io);
    return { code, out };
  };
  const login = async (secret: string, from: string) => {
    const raw = await RawClient.connect(gate.imapsPort, { tls: true, ca: gate.ca, localAddress: from });
    await raw.until(/^\* OK/);
    const lines = await raw.cmd('n1', `LOGIN ${ALICE} "${secret}"`);
    return { lines, raw };
  };

  beforeAll(async () => {
    dovecot = await startDovecot();
    gate = await startGate(dovecot, OVERRIDES);
    configFile = join(gate.dir, 'mailgate.yaml');
    writeFileSync(configFile, stringify(gateConfigDoc(dovecot, gate.dir, OVERRIDES)));
  }, 30_000);
  afterAll(async () => {
    await gate?.close();
    await dovecot?.stop();
  });

  it('a CIDR allowlist: accepted from 127.0.0.1, refused from 127.0.0.2 with the plain line and audited; --anywhere lifts it', async () => {
    const created = await cli('passcodes', 'create', ALICE, '--name', 'desk', '--scopes', 'imap', '--allow', '127.0.0.1/32', '--json');
    expect(created.code).toBe(0);
    const { passcode, id } = JSON.parse(created.out) as { passcode: string; id: string };
    const inside = await login(passcode, '127.0.0.1');
    expect(inside.lines.at(-1)).toMatch(/^n1 OK/);
    inside.raw.close();
    const outside = await login(passcode, '127.0.0.2');
    expect(outside.lines).toEqual(['n1 NO [AUTHENTICATIONFAILED] Authentication failed.']);
    outside.raw.close();
    await new Promise((r) => setTimeout(r, 50));
    const refused = (await gate.server.core.store.queryAudit({ type: 'auth', username: ALICE })).at(-1);
    expect(refused).toMatchObject({ outcome: 'reject', reason: 'network-not-allowed', ip: '127.0.0.2', passcodeId: id });
    expect((await cli('passcodes', 'allow', ALICE, id, '--anywhere')).code).toBe(0);
    const later = await login(passcode, '127.0.0.2');
    expect(later.lines.at(-1)).toMatch(/^n1 OK/);
    later.raw.close();
    expect((await cli('passcodes', 'allow', ALICE, id, 'not-a-network')).code).toBe(2);
  });

  it('limiting from another process ends the live session from elsewhere; rename shows in the listing', async () => {
    const created = await cli('passcodes', 'create', ALICE, '--name', 'laptop', '--scopes', 'imap', '--json');
    const { passcode, id } = JSON.parse(created.out) as { passcode: string; id: string };
    const away = await login(passcode, '127.0.0.3');
    const home = await login(passcode, '127.0.0.1');
    expect([away.lines.at(-1), home.lines.at(-1)]).toEqual([expect.stringMatching(/^n1 OK/), expect.stringMatching(/^n1 OK/)]);
    const t0 = Date.now();
    expect((await cli('passcodes', 'allow', ALICE, id, '127.0.0.1')).out).toMatch(/may now log in only from 127\.0\.0\.1\/32/);
    expect(await away.raw.closedWithin(2_000)).toBe(true);
    console.log(`session from 127.0.0.3 ended ${Date.now() - t0} ms after the CLI limited the passcode`);
    expect((await home.raw.cmd('h1', 'NOOP')).at(-1)).toMatch(/^h1 OK/);
    home.raw.close();
    expect((await cli('passcodes', 'rename', ALICE, id, 'Old', 'laptop')).code).toBe(0);
    const list = JSON.parse((await cli('passcodes', 'list', ALICE, '--json')).out) as Array<{
      id: string;
      name: string;
      allowedNetworks: string[] | null;
    }>;
    expect(list.find((p) => p.id === id)).toMatchObject({ name: 'Old laptop', allowedNetworks: ['127.0.0.1/32'] });
    expect((await cli('passcodes', 'list', ALICE)).out).toMatch(/Old laptop .*127\.0\.0\.1\/32/);
  });
});
