/** `mailgate demo --check`: proves the demo works with a real IMAP client, as a newcomer would. */
import { DEFAULT_USERS, type TestUser } from './dovecot.js';
import { readFileSync } from 'node:fs';
import { ImapFlow } from 'imapflow';
import { createTransport } from 'nodemailer';
import type { Io } from '../cli/util.js';

async function tryLogin(port: number, ca: Buffer, user: string, pass: string): Promise<{ ok: boolean; detail: string }> {
  const client = new ImapFlow({
    host: '127.0.0.1',
    port,
    secure: true,
    tls: { ca },
    auth: { user, pass },
    logger: false,
    verifyOnly: false,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    const box = await client.mailboxOpen('INBOX');
    await client.logout();
    return { ok: true, detail: `${box.exists} messages in INBOX` };
  } catch (e) {
    client.close();
    return { ok: false, detail: (e as { responseText?: string }).responseText ?? (e as Error).message };
  }
}

async function trySend(port: number, ca: Buffer, user: string, pass: string): Promise<{ ok: boolean; detail: string }> {
  const t = createTransport({ host: '127.0.0.1', port, secure: true, tls: { ca }, auth: { user, pass } });
  try {
    const info = await t.sendMail({ from: user, to: 'bob@example.com', subject: 'sent through mailgate', text: 'It works.' });
    return { ok: true, detail: info.response };
  } catch (e) {
    return { ok: false, detail: (e as { response?: string }).response ?? (e as Error).message };
  } finally {
    t.close();
  }
}

const [ALICE, BOB] = DEFAULT_USERS as [TestUser, TestUser];
export async function runDemoCheck(o: {
  io: Io;
  ca: string;
  passcode: string;
  portal: string | null;
  ports: { imaps: number; smtps?: number | undefined };
}): Promise<boolean> {
  const ca = readFileSync(o.ca);
  const withPasscode = await tryLogin(o.ports.imaps, ca, 'alice@example.com', o.passcode);
  const withPassword = await tryLogin(o.ports.imaps, ca, ALICE.user, ALICE.password);
  const bob = await tryLogin(o.ports.imaps, ca, BOB.user, BOB.password);
  const results = [
    { what: 'alice with her passcode is let in', pass: withPasscode.ok, detail: withPasscode.detail },
    { what: 'alice with her main password is refused', pass: !withPassword.ok, detail: withPassword.detail },
    { what: 'bob (not enforced) with his password is let in', pass: bob.ok, detail: bob.detail },
  ];
  if (o.ports.smtps) {
    const sent = await trySend(o.ports.smtps, ca, 'alice@example.com', o.passcode);
    const refused = await trySend(o.ports.smtps, ca, ALICE.user, ALICE.password);
    results.push(
      { what: 'alice sends mail with her passcode', pass: sent.ok, detail: sent.detail },
      { what: 'alice sending with her main password is refused', pass: !refused.ok, detail: refused.detail },
    );
  }
  if (o.portal) {
    const r = await fetch(new URL('signin', o.portal.endsWith('/') ? o.portal : `${o.portal}/`)).catch((e: Error) => e);
    const ok = !(r instanceof Error) && r.status === 200 && /Sign in/.test(await r.text());
    results.push({
      what: 'the self-service portal shows its sign-in page',
      pass: ok,
      detail: r instanceof Error ? r.message : `HTTP ${r.status}`,
    });
  }
  for (const r of results) o.io.out(`${r.pass ? 'ok  ' : 'FAIL'}  ${r.what} (${r.detail})`);
  return results.every((r) => r.pass);
}
