/** The portal's main-password check: a real login to Dovecot, yes / no / cannot tell. */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildConfig } from '../../src/config/load.js';
import type { UpstreamConfig } from '../../src/config/types.js';
import { createImapLogin, UpstreamError } from '../../src/portal/index.js';
import { startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';
import { freePort } from '../../src/demo/ports.js';
import { describeInterop } from '../support/interop.js';
import { gateConfigDoc } from '../support/gate.js';

const ALICE = { user: 'alice@example.com', password: 'pä "ss" w{rd}\\ x' }; // quotes, UTF-8, braces, backslash

describeInterop('portal sign-in check against Dovecot', ['dovecot'], () => {
  let dovecot: DovecotInstance;
  let upstream: UpstreamConfig;

  beforeAll(async () => {
    dovecot = await startDovecot({ users: [ALICE] });
    upstream = buildConfig(gateConfigDoc(dovecot, dovecot.dir), null).imap!.upstream;
  }, 30_000);
  afterAll(async () => {
    await dovecot?.stop();
  });

  it('says yes to the right password over STARTTLS and implicit TLS, no to a wrong one', async () => {
    expect(await createImapLogin(upstream)(ALICE.user, ALICE.password, '192.0.2.10')).toBe(true);
    expect(await createImapLogin({ ...upstream, port: dovecot.imapsPort, tls: 'implicit' })(ALICE.user, ALICE.password)).toBe(true);
    expect(await createImapLogin(upstream)(ALICE.user, 'wrong')).toBe(false);
    expect(await createImapLogin(upstream)('nobody@example.com', 'x')).toBe(false);
    expect(await createImapLogin(upstream)(ALICE.user, 'a\u0000b')).toBe(false);
    // The real client address reached Dovecot (trusted network): its log names it, not mailgate's.
    expect(dovecot.log()).toContain('rip=192.0.2.10');
  });

  it('cannot tell when the server is down or its certificate is not trusted', async () => {
    const down = { ...upstream, port: await freePort(), connectTimeoutMs: 1_000 };
    // One error type with the fronts (UpstreamError), its stage saying where it failed.
    await expect(createImapLogin(down)(ALICE.user, ALICE.password)).rejects.toBeInstanceOf(UpstreamError);
    await expect(createImapLogin(down)(ALICE.user, ALICE.password)).rejects.toMatchObject({ stage: 'connect' });
    await expect(createImapLogin({ ...upstream, ca: null })(ALICE.user, ALICE.password)).rejects.toBeInstanceOf(UpstreamError);
    await expect(createImapLogin({ ...upstream, ca: null })(ALICE.user, ALICE.password)).rejects.toMatchObject({ stage: 'tls' });
  });
});
