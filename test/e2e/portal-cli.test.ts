/** The CLI verbs that go with the portal: totp status|reset|enrol-code, codes generate, audit [--follow]. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auditCommand } from '../../src/cli/audit.js';
import { codesCommand } from '../../src/cli/codes.js';
import { totpCommand, twoFactorOf } from '../../src/cli/totp.js';
import type { Io } from '../../src/cli/util.js';
import { loadConfig } from '../../src/config/load.js';
import { totpCode } from '../../src/core/totp.js';
import { openCore, type Core } from '../../src/main.js';

const ALICE = 'alice@example.com';

describe('CLI: totp, codes, audit', () => {
  let dir: string;
  let configFile: string;
  let core: Core;

  const run = async (cmd: typeof totpCommand, args: string[], opts?: Parameters<typeof auditCommand>[2]) => {
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
    const code = await (opts ? auditCommand(args, io, opts) : cmd(args, io));
    return { code, out, err };
  };
  const withConfig = (args: string[]) => [...args, '--config', configFile];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mailgate-cli-'));
    configFile = join(dir, 'mailgate.yaml');
    writeFileSync(
      configFile,
      stringify({
        store: { sqlite: join(dir, 'mailgate.db') },
        secret_file: join(dir, 'secret.key'),
        imap: {
          listen: [{ port: 0, tls: 'none' }],
          upstream: { host: '127.0.0.1', port: 1, tls: 'none', auth: { method: 'sasl-proxy', user: 'm', password: 'p' } },
        },
        policy: { allow_plaintext_auth: true },
        auth: { bcrypt_cost: 4 },
        portal: { public_url: 'https://mail.example.com/2fa' },
      }),
    );
    core = await openCore(loadConfig(configFile, {}), { hashWorkers: 1 });
    const tf = twoFactorOf(core);
    const { secret } = await tf.beginEnrolment(ALICE);
    expect(await tf.confirmEnrolment(ALICE, totpCode(secret, Date.now()), { actor: 'portal' })).toMatchObject({ ok: true });
  });
  afterAll(async () => {
    await core?.close();
  });

  it('totp status tells whether 2FA is on and how many codes are left', async () => {
    const r = await run(totpCommand, withConfig(['status', ALICE]));
    expect(r.out).toMatch(/two-factor authentication: on since \d{4}-/);
    expect(r.out).toContain('emergency codes: 10 of 10 left');
    const j = await run(totpCommand, withConfig(['status', ALICE, '--json']));
    expect(JSON.parse(j.out)).toMatchObject({ enabled: true, codesLeft: 10, required: false });
    await expect(run(totpCommand, withConfig(['status']))).rejects.toThrow(/usage: mailgate totp status USER/);
  });

  it('codes generate prints a fresh set once and invalidates the old one', async () => {
    const before = await core.store.listEmergencyCodes(ALICE);
    const r = await run(codesCommand, withConfig(['generate', ALICE]));
    expect(r.code).toBe(0);
    const codes = [...r.out.matchAll(/\d+\. ([a-z2-9]{5}-[a-z2-9]{5})/g)].map((m) => m[1]);
    expect(codes).toHaveLength(10);
    expect((await core.store.listEmergencyCodes(ALICE)).map((c) => c.hash)).not.toEqual(before.map((c) => c.hash));
    const j = JSON.parse((await run(codesCommand, withConfig(['generate', ALICE, '--json']))).out) as { codes: string[] };
    expect(j.codes).toHaveLength(10);
  });

  it('audit filters by user and type, as a table or JSON', async () => {
    const table = await run(auditCommand, withConfig(['--user', 'Alice@Example.com']));
    expect(table.out.split('\n')[0]).toMatch(/^ID\s+TIME\s+TYPE\s+USER\s+OUTCOME/);
    expect(table.out).toMatch(/totp\.enable\s+alice@example\.com\s+ok/);
    const json = JSON.parse((await run(auditCommand, withConfig(['--type', 'codes.generate', '--json']))).out) as Array<{
      type: string;
      detail: { actor: string };
    }>;
    expect(json.map((e) => [e.type, e.detail.actor])).toEqual([
      ['codes.generate', 'portal'],
      ['codes.generate', 'cli'],
      ['codes.generate', 'cli'],
    ]);
    expect((await run(auditCommand, withConfig(['--limit', '1', '--json']))).out).toMatch(/^\[\s*\{/);
    // Usage errors throw; the dispatcher in cli/index.ts turns them into exit code 2 with the message.
    await expect(run(auditCommand, withConfig(['--since', 'yesterday']))).rejects.toThrow(/--since takes a duration/);
  });

  it('audit --follow prints new events as they are written, until stopped', async () => {
    const ac = new AbortController();
    const following = run(auditCommand, withConfig(['--follow', '--json', '--user', ALICE, '--limit', '1']), {
      signal: ac.signal,
      pollMs: 50,
    });
    await new Promise((r) => setTimeout(r, 300));
    await core.store.appendAudit({
      ts: Date.now(),
      type: 'test.event',
      username: ALICE,
      protocol: null,
      ip: null,
      passcodeId: null,
      outcome: 'ok',
      reason: null,
      sessionId: null,
      detail: null,
    });
    await core.store.appendAudit({
      ts: Date.now(),
      type: 'test.other-user',
      username: 'bob@example.com',
      protocol: null,
      ip: null,
      passcodeId: null,
      outcome: 'ok',
      reason: null,
      sessionId: null,
      detail: null,
    });
    await new Promise((r) => setTimeout(r, 300));
    ac.abort();
    const r = await following;
    const types = r.out
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { type: string }).type);
    expect(types).toEqual(['codes.generate', 'test.event']);
  });

  it('totp enrol-code prints a one-time code once, replaces the last one, and is refused while 2FA is on', async () => {
    const BOB = 'bob@example.com';
    const r = await run(totpCommand, withConfig(['enrol-code', 'Bob@Example.com', '--expires', '2d']));
    expect(r.code).toBe(0);
    const code = /^ {4}([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})$/m.exec(r.out)?.[1];
    expect(code).toBeDefined();
    expect(r.out).toContain('a channel a password thief does not have');
    expect(r.err).toContain('first_enrolment is "open"'); // this config does not ask for it yet
    const row = await core.store.getEnrolCode(BOB);
    expect(row!.expiresAt - row!.createdAt).toBe(2 * 86_400_000);
    const j = JSON.parse((await run(totpCommand, withConfig(['enrol-code', BOB, '--json']))).out) as { code: string; expiresAt: number };
    expect(j.code).toMatch(/^[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}$/);
    expect(j.code).not.toBe(code);
    expect((await core.store.getEnrolCode(BOB))!.expiresAt - j.expiresAt).toBe(0);
    expect(JSON.stringify(await core.store.queryAudit({ limit: 1000 }))).not.toContain(j.code);
    await expect(run(totpCommand, withConfig(['enrol-code', ALICE]))).rejects.toThrow(/already on for alice@example.com/);
    await expect(run(totpCommand, withConfig(['enrol-code', BOB, '--expires', 'soon']))).rejects.toThrow(/--expires takes a duration/);
  });

  it('totp reset removes the authenticator and says what happens next', async () => {
    const r = await run(totpCommand, withConfig(['reset', ALICE]));
    expect(r.code).toBe(0);
    expect(r.out).toContain('removed the authenticator app and emergency codes of alice@example.com');
    expect((await twoFactorOf(core).status(ALICE)).enabled).toBe(false);
    expect((await run(totpCommand, withConfig(['reset', ALICE]))).code).toBe(1);
    await expect(run(codesCommand, withConfig(['generate', ALICE]))).rejects.toThrow(/not on for alice@example.com/);
  });
});
