/**
 * `mailgate serve` as a real process: SIGHUP reloads policy without dropping sessions, SIGTERM
 * stops accepting, lets live sessions drain for the grace period, then closes them and exits.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { main } from '../../src/cli/index.js';
import { describeInterop } from '../support/interop.js';
import { gateConfigDoc } from '../support/gate.js';
import { RawClient } from '../support/raw.js';
import { spawnServe, type ServeProcess } from '../support/serve-process.js';
import { startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';

const ALICE = 'alice@example.com';

describeInterop('mailgate serve lifecycle', ['dovecot'], () => {
  let dovecot: DovecotInstance;
  let dir: string;
  let configFile: string;
  let serve: ServeProcess;
  const write = (overrides: Record<string, unknown>) =>
    writeFileSync(
      configFile,
      stringify(gateConfigDoc(dovecot, dir, { log: { level: 'info' }, limits: { shutdown_grace: '2s' }, ...overrides })),
    );
  const waitFor = (re: RegExp, ms = 10_000) => serve.waitFor(re, ms);

  beforeAll(async () => {
    dovecot = await startDovecot();
    dir = mkdtempSync(join(tmpdir(), 'mailgate-life-'));
    configFile = join(dir, 'mailgate.yaml');
    write({});
    serve = spawnServe(configFile);
  }, 30_000);
  afterAll(async () => {
    serve?.proc.kill('SIGKILL');
    await dovecot?.stop();
  });

  it('reloads on SIGHUP, drains on SIGTERM', async () => {
    const port = Number((await waitFor(/"port":(\d+),"tls":"implicit","msg":"IMAP listening"/))[1]);
    let passcode = '';
    await main(['passcodes', 'create', ALICE, '--name', 'life', '--config', configFile, '--json'], {
      out: (t) => {
        passcode = (JSON.parse(t) as { passcode: string }).passcode;
      },
      err: () => {},
      env: {},
    });

    const alice = await RawClient.connect(port, { tls: true, ca: dovecot.certs.caCert });
    await alice.until(/^\* OK/);
    expect((await alice.cmd('a1', `LOGIN ${ALICE} "${passcode}"`)).at(-1)).toMatch(/^a1 OK/);

    const bobLogin = async (tag: string) => {
      const bob = await RawClient.connect(port, { tls: true, ca: dovecot.certs.caCert });
      await bob.until(/^\* OK/);
      const r = (await bob.cmd(tag, 'LOGIN bob@example.com bob-main-pw')).at(-1);
      bob.close();
      return r;
    };
    expect(await bobLogin('b1')).toMatch(/^b1 OK/);
    write({ policy: { enforce: ['example.com'] } });
    serve.proc.kill('SIGHUP');
    await waitFor(/configuration reloaded/);
    expect(await bobLogin('b2')).toMatch(/^b2 NO \[AUTHENTICATIONFAILED\]/);
    expect((await alice.cmd('a2', 'NOOP')).at(-1)).toMatch(/^a2 OK/); // the live session survived

    const exited = serve.exited();
    serve.proc.kill('SIGTERM');
    await waitFor(/no longer accepting connections/);
    await expect(RawClient.connect(port, { tls: true, ca: dovecot.certs.caCert })).rejects.toThrow(/ECONNREFUSED/);
    expect((await alice.cmd('a3', 'SELECT INBOX')).at(-1)).toMatch(/^a3 OK/); // still served during the grace period
    expect(await alice.closedWithin(4000)).toBe(true);
    expect(await exited).toBe(0);
    expect(serve.out).toMatch(/grace period over: closing the remaining sessions/);
  }, 30_000);
});
