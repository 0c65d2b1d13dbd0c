/**
 * Transparency defects that Dovecot's own imaptest compliance scripts found (release-2.3.21,
 * all groups pass direct): each case runs against Dovecot directly and through mailgate, and
 * both must answer alike.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';
import { describeInterop } from '../support/interop.js';
import { startGate, type Gate } from '../support/gate.js';
import { RawClient } from '../support/raw.js';

describeInterop('IMAP before login: mailgate answers as Dovecot does', ['dovecot'], () => {
  let dovecot: DovecotInstance;
  let gate: Gate;
  const both = () => [
    { who: 'dovecot', port: dovecot.imapsPort },
    { who: 'mailgate', port: gate.imapsPort },
  ];
  const open = async (port: number): Promise<{ c: RawClient; greeting: string }> => {
    const c = await RawClient.connect(port, { tls: true, ca: dovecot.certs.caCert });
    return { c, greeting: (await c.until(/^\* OK/))[0]! };
  };

  beforeAll(async () => {
    dovecot = await startDovecot();
    gate = await startGate(dovecot);
  }, 30_000);
  afterAll(async () => {
    await gate?.close();
    await dovecot?.stop();
  });

  it("greets with the upstream's capability list, in its order (LOGIN-REFERRALS kept)", async () => {
    const caps: string[] = [];
    for (const { port } of both()) {
      const { c, greeting } = await open(port);
      caps.push(/\[CAPABILITY ([^\]]+)\]/.exec(greeting)![1]!);
      c.close();
    }
    expect(caps[0]).toContain('LOGIN-REFERRALS');
    expect(caps[1]).toBe(caps[0]);
  });

  it('answers an RFC 2971 ID of 30 fields with 1024-octet values (one ~32 KB line)', async () => {
    const fields = Array.from({ length: 30 }, (_, i) => `"field-${i}" "${String.fromCharCode(97 + (i % 26)).repeat(1024)}"`).join(' ');
    const line = `a1 ID (${fields})`;
    expect(line.length).toBeGreaterThan(31_000);
    for (const { who, port } of both()) {
      const { c } = await open(port);
      const answer = await c.cmd('a1', line.slice(3));
      expect(answer.at(-1), who).toMatch(/^a1 OK/);
      expect(
        answer.some((l) => l.startsWith('* ID ')),
        who,
      ).toBe(true);
      // The connection is still usable, and LOGIN stays strictly bounded.
      expect((await c.cmd('a2', 'NOOP')).at(-1), who).toMatch(/^a2 OK/);
      c.close();
    }
    const { c } = await open(gate.imapsPort);
    c.send(`a3 LOGIN alice@example.com ${'x'.repeat(9000)}`);
    expect((await c.until(/BAD/))[0]).toMatch(/^a3 BAD Line too long/);
    c.close();
  });

  it('LOGOUT before login over TLS: the tagged OK arrives after the BYE, every time', async () => {
    for (let i = 0; i < 20; i++) {
      const { c } = await open(gate.imapsPort);
      const lines = await c.cmd(`t${i}`, 'LOGOUT');
      expect(lines[0]).toMatch(/^\* BYE/);
      expect(lines.at(-1)).toMatch(new RegExp(`^t${i} OK`));
      expect(await c.closedWithin(3_000)).toBe(true);
    }
  });
});
