/**
 * The admin's contract: the CLI verbs of DESIGN.md against a real config file, a running mailgate
 * and a real Dovecot — and real clients other than Node's (curl, Python's imaplib).
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { main } from '../../src/cli/index.js';
import type { Io } from '../../src/cli/util.js';
import { describeInterop } from '../support/interop.js';
import { gateConfigDoc, startGate, type Gate } from '../support/gate.js';
import { startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';

const run = promisify(execFile);
const ALICE = 'alice@example.com';

async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: Io = {
    out: (t) => {
      out += `${t}\n`;
    },
    err: (t) => {
      err += `${t}\n`;
    },
    env,
  };
  const code = await main(args, io);
  return { code, out, err };
}

describeInterop('CLI and non-Node clients', ['dovecot'], () => {
  let dovecot: DovecotInstance;
  let gate: Gate;
  let configFile: string;

  beforeAll(async () => {
    dovecot = await startDovecot({ messages: [{ user: ALICE, raw: 'Subject: cli test\r\n\r\nbody\r\n' }] });
    gate = await startGate(dovecot);
    // The same configuration as the running gate, as a file an admin would pass with --config.
    configFile = join(gate.dir, 'mailgate.yaml');
    writeFileSync(configFile, stringify(gateConfigDoc(dovecot, gate.dir)));
  }, 30_000);
  afterAll(async () => {
    await gate?.close();
    await dovecot?.stop();
  });

  it('creates a passcode that works at once in curl, lists and revokes it', async () => {
    const created = await cli(['passcodes', 'create', ALICE, '--name', 'curl', '--scopes', 'imap', '--config', configFile, '--json']);
    expect(created.code).toBe(0);
    const info = JSON.parse(created.out) as { passcode: string; id: string; scopes: string[] };
    expect(info.passcode).toMatch(/^[a-z]{4} [a-z]{4} [a-z]{4} [a-z]{4}$/);
    expect(info.scopes).toEqual(['imap']);

    const curl = await run('curl', [
      '-sS',
      '--cacert',
      gate.ca,
      '--url',
      `imaps://127.0.0.1:${gate.imapsPort}/INBOX;UID=1`,
      '--user',
      `${ALICE}:${info.passcode.replace(/ /g, '')}`,
    ]);
    expect(curl.stdout).toContain('cli test');
    const refused = await run('curl', [
      '-sS',
      '--cacert',
      gate.ca,
      '--url',
      `imaps://127.0.0.1:${gate.imapsPort}/INBOX?ALL`,
      '--user',
      `${ALICE}:alice-main-pw`,
    ]).catch((e: { code: number; stderr: string }) => e);
    expect((refused as { code: number }).code).toBe(67); // CURLE_LOGIN_DENIED

    // "Last used" reaches the store with the next audit batch (audit.write_batch, 50 ms): read until it is there.
    let list = await cli(['passcodes', 'list', ALICE, '--config', configFile]);
    for (let i = 0; i < 20 && !list.out.includes('127.0.0.1'); i++) {
      await new Promise((r) => setTimeout(r, 50));
      list = await cli(['passcodes', 'list', ALICE, '--config', configFile]);
    }
    expect(list.out).toMatch(new RegExp(`${info.id}\\s+curl\\s+imap\\s+active`));
    expect(list.out).toContain('127.0.0.1'); // last used from

    const revoke = await cli(['passcodes', 'revoke', ALICE, info.id, '--config', configFile]);
    expect(revoke.code).toBe(0);
    expect((await cli(['passcodes', 'revoke', ALICE, info.id, '--config', configFile])).code).toBe(1);
    const after = await run('curl', [
      '-sS',
      '--cacert',
      gate.ca,
      '--url',
      `imaps://127.0.0.1:${gate.imapsPort}/INBOX?ALL`,
      '--user',
      `${ALICE}:${info.passcode}`,
    ]).catch((e: { code: number }) => e);
    expect((after as { code: number }).code).toBe(67);
  });

  it("Python's imaplib logs in with a passcode over STARTTLS", async () => {
    const { passcode } = JSON.parse(
      (await cli(['passcodes', 'create', ALICE, '--name', 'python', '--config', configFile, '--json'])).out,
    ) as { passcode: string };
    const script = `
import imaplib, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[2])
m = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
assert 'LOGINDISABLED' in m.capabilities, m.capabilities
m.starttls(ssl_context=ctx)
m.login('${ALICE}', sys.argv[3])
typ, data = m.select('INBOX')
print(typ, data[0].decode())
try:
    imaplib.IMAP4('127.0.0.1', int(sys.argv[1])).login('${ALICE}', 'alice-main-pw')
except imaplib.IMAP4.error as e:
    print('refused in clear:', e)
m.logout()
`;
    const r = await run('python3', ['-c', script, String(gate.imapPort), gate.ca, passcode]);
    expect(r.stdout).toMatch(/^OK \d+/m);
    expect(r.stdout).toMatch(/refused in clear: .*PRIVACYREQUIRED|refused in clear: .*LOGINDISABLED/);
  });

  it('enforces and releases accounts, and shows them', async () => {
    expect((await cli(['accounts', 'enforce', 'Bob@Example.com', '--config', configFile])).out).toMatch(/bob@example.com: enforced/);
    const shown = JSON.parse((await cli(['accounts', 'show', 'bob@example.com', '--config', configFile, '--json'])).out) as {
      enforced: boolean;
      override: boolean | null;
    };
    expect(shown).toMatchObject({ enforced: true, override: true });
    const bobRefused = await run('curl', [
      '-sS',
      '--cacert',
      gate.ca,
      '--url',
      `imaps://127.0.0.1:${gate.imapsPort}/INBOX?ALL`,
      '--user',
      'bob@example.com:bob-main-pw',
    ]).catch((e: { code: number }) => e);
    expect((bobRefused as { code: number }).code).toBe(67);
    expect((await cli(['accounts', 'release', 'bob@example.com', '--config', configFile])).out).toMatch(/not enforced/);
    const list = JSON.parse((await cli(['accounts', 'list', '--config', configFile, '--json'])).out) as Array<{ username: string }>;
    expect(list.map((a) => a.username)).toContain(ALICE);
  });

  it('doctor passes on a good setup and explains a wrong master password', async () => {
    const ok = await cli(['doctor', '--config', configFile]);
    expect(ok.out).toMatch(/ok\s+IMAP master login/);
    expect(ok.code).toBe(0);
    const badFile = join(gate.dir, 'bad.yaml');
    writeFileSync(badFile, stringify(gateConfigDoc(dovecot, gate.dir, { imap: { upstream: { auth: { password: 'wrong' } } } })));
    const bad = await cli(['doctor', '--config', badFile]);
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/FAIL\s+IMAP master login: .*master user/);
    expect(bad.out).not.toContain(dovecot.master.password);
  }, 30_000);

  it('says what is wrong with bad input instead of crashing', async () => {
    expect((await cli(['passcodes', 'create', ALICE, '--config', configFile])).err).toMatch(/--name is required/);
    expect((await cli(['passcodes', 'create', ALICE, '--name', 'x', '--scopes', 'imap,web', '--config', configFile])).err).toMatch(
      /--scopes takes/,
    );
    expect((await cli(['passcodes', 'list', ALICE, '--config', '/nonexistent.yaml'])).err).toMatch(
      /no configuration at \/nonexistent.yaml/,
    );
    expect((await cli(['bogus'])).code).toBe(2);
  });
});
