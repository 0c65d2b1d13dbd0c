/**
 * STARTTLS command injection on SMTP (the CVE-2011-0411 class): whatever a client pipelines after
 * STARTTLS in clear text must be discarded, not executed inside the TLS session.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeInterop } from '../support/interop.js';
import { gateConfigDoc, startGate, type Gate } from '../support/gate.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { main } from '../../src/cli/index.js';
import { RawClient } from '../support/raw.js';
import { startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';
import { startPostfix, type PostfixInstance } from '../../src/demo/postfix.js';

describeInterop('SMTP STARTTLS injection and doctor', ['dovecot', 'postfix'], () => {
  let dovecot: DovecotInstance;
  let postfix: PostfixInstance;
  let gate: Gate;
  beforeAll(async () => {
    dovecot = await startDovecot();
    postfix = await startPostfix({ dovecot });
    gate = await startGate(dovecot, {}, postfix);
  }, 30_000);
  afterAll(async () => {
    await gate?.close();
    await postfix?.stop();
    await dovecot?.stop();
  });

  it('discards commands pipelined after STARTTLS', async () => {
    const raw = await RawClient.connect(gate.smtpPort);
    await raw.until(/^220 /);
    raw.send('EHLO attacker\r\n');
    const ehlo = await raw.until(/^250 /);
    expect(ehlo.join('\n')).toMatch(/STARTTLS/);
    expect(ehlo.join('\n')).not.toMatch(/AUTH/);
    raw.send('STARTTLS\r\nXYZZY injected\r\n'); // executed, it would answer 500
    await raw.until(/^220 /);
    await raw.starttls(gate.ca);
    raw.send('EHLO client\r\n');
    const after = await raw.until(/^250 /);
    // Every reply inside TLS belongs to our EHLO: none to the injected command.
    expect(after.every((l) => /^250[- ]/.test(l))).toBe(true);
    expect(after.join('\n')).toMatch(/AUTH PLAIN LOGIN/);
    raw.send('NOOP\r\n');
    const noop = await raw.until(/^250 /);
    expect(noop).toHaveLength(1);
    raw.close();
  });

  it('doctor checks the SMTP upstream and that Postfix lets mailgate use XCLIENT', async () => {
    const file = join(gate.dir, 'doctor.yaml');
    writeFileSync(file, stringify(gateConfigDoc(dovecot, gate.dir, {}, postfix)));
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
    expect(await main(['doctor', '--config', file], io)).toBe(0);
    expect(out).toMatch(/ok\s+SMTP upstream: .*PIPELINING/);
    expect(out).toMatch(/ok\s+SMTP XCLIENT: allowed for mailgate/);
  });
});
