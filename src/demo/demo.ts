/**
 * mailgate demo: a private Dovecot (and Postfix, when installed) on loopback with demo users and
 * mail, mailgate in front of it with a real config file, one enforced account with a fresh
 * passcode — and exact instructions to try it with a real client.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve, join } from 'node:path';
import { stringify } from 'yaml';
import { startServer, type Server } from '../main.js';
import { loadConfig } from '../config/load.js';
import { createLogger } from '../runtime/logger.js';
import { DEFAULT_USERS, dovecotBinary, startDovecot, type DovecotInstance, type TestUser } from './dovecot.js';
import { postfixBinary, startPostfix, type PostfixInstance } from './postfix.js';
import { INTEROP_INSTALL_HINT } from './interop.js';
import { demoMessages } from './demo-mail.js';
import { runDemoCheck } from './demo-check.js';
import { CliError, parse, type Io } from '../cli/util.js';

/** The demo's two accounts are the testbed's default users: one list, used by the demo, its check and the tests. */
const [ALICE, BOB] = DEFAULT_USERS as [TestUser, TestUser];

async function portOr0(port: number): Promise<number> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(0));
    s.listen(port, '127.0.0.1', () => s.close(() => res(port)));
  });
}

export async function demoCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, { dir: { type: 'string' }, check: { type: 'boolean', default: false } });
  if (values.help) {
    io.out(
      'mailgate demo [--dir DIR] [--check]\n  starts Dovecot (+ Postfix), mailgate in front, prints how to connect; --check tests it with a real client and exits',
    );
    return 0;
  }
  if (!dovecotBinary())
    throw new CliError(
      `the demo needs Dovecot on this machine. Install it with:\n  sudo ${INTEROP_INSTALL_HINT}\nthen run: npx mailgate demo`,
      1,
    );
  if (process.getuid?.() !== 0) throw new CliError('the demo starts a private Dovecot, which needs root (sudo npx mailgate demo)', 1);

  const dir = resolve(values.dir ?? '.mailgate-demo');
  rmSync(dir, { recursive: true, force: true });
  // 0755: Postfix and Dovecot drop privileges and must reach their folders inside; the secrets
  // (master password, server secret, database) are 0600 files in it.
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  io.out(`Starting a private Dovecot${postfixBinary() ? ' and Postfix' : ''} on 127.0.0.1 …`);

  let dovecot: DovecotInstance | null = null;
  let postfix: PostfixInstance | null = null;
  let server: Server | null = null;
  try {
    dovecot = await startDovecot({ dir: join(dir, 'dovecot'), users: [ALICE, BOB], messages: demoMessages() });
    if (postfixBinary()) postfix = await startPostfix({ dovecot, dir: join(dir, 'postfix') });
    const masterFile = join(dir, 'master.password');
    writeFileSync(masterFile, `${dovecot.master.password}\n`, { mode: 0o600 });
    // The admin API is on in the demo, its token in a 0600 file and printed below with a curl line.
    const adminToken = randomBytes(24).toString('base64url');
    const adminTokenFile = join(dir, 'admin.token');
    writeFileSync(adminTokenFile, `${adminToken}\n`, { mode: 0o600 });
    const upstreamTls = { tls: 'starttls', ca: dovecot.certs.caCert, trusted: true };
    const portalPort = await portOr0(8080);
    const doc: Record<string, unknown> = {
      store: { sqlite: join(dir, 'data/mailgate.db') },
      secret_file: join(dir, 'data/secret.key'),
      tls: { cert: dovecot.certs.cert, key: dovecot.certs.key },
      imap: {
        listen: [
          { host: '127.0.0.1', port: await portOr0(1143), tls: 'starttls' },
          { host: '127.0.0.1', port: await portOr0(1993), tls: 'implicit' },
        ],
        upstream: {
          host: '127.0.0.1',
          port: dovecot.imapPort,
          ...upstreamTls,
          auth: { method: 'sasl-proxy', user: dovecot.master.user, password_file: masterFile },
        },
      },
      ...(postfix
        ? {
            smtp: {
              listen: [
                { host: '127.0.0.1', port: await portOr0(1587), tls: 'starttls' },
                { host: '127.0.0.1', port: await portOr0(1465), tls: 'implicit' },
              ],
              upstream: { host: '127.0.0.1', port: postfix.submissionPort, ...upstreamTls, auth: { method: 'xclient' } },
            },
          }
        : {}),
      pop3: {
        listen: [
          { host: '127.0.0.1', port: await portOr0(1110), tls: 'starttls' },
          { host: '127.0.0.1', port: await portOr0(1995), tls: 'implicit' },
        ],
        upstream: {
          host: '127.0.0.1',
          port: dovecot.pop3Port,
          ...upstreamTls,
          auth: { method: 'sasl-proxy', user: dovecot.master.user, password_file: masterFile },
        },
      },
      // With a known port, refused mail apps are told where to make a passcode (auth.refusal_hint).
      portal: { listen: { host: '127.0.0.1', port: portalPort }, ...(portalPort ? { public_url: `http://127.0.0.1:${portalPort}/` } : {}) },
      admin: { token_file: adminTokenFile },
      identity: { default_domain: 'example.com', domains: ['example.com'] },
      policy: { enforce: ['alice@example.com'], allow_plaintext_auth: false },
      limits: { max_connections: 1000 }, // a demo on a laptop; production keeps the default (see README)
      log: { level: 'info' },
    };
    const configFile = join(dir, 'mailgate.yaml');
    writeFileSync(configFile, `# Written by \`mailgate demo\`; see config/mailgate.example.yaml for every key.\n${stringify(doc)}`);
    const config = loadConfig(configFile, io.env);
    server = await startServer(config, { log: createLogger({ level: 'warn', destination: 2 }) });
    const created = await server.core.manager.createPasscode(
      'alice@example.com',
      { name: 'demo mail app', scopes: ['imap', 'smtp', 'pop3'] },
      'demo',
    );

    const ports = {
      imap: server.imap!.addresses.find((a) => a.tls === 'starttls')!.port,
      imaps: server.imap!.addresses.find((a) => a.tls === 'implicit')!.port,
      smtp: server.smtp?.addresses.find((a) => a.tls === 'starttls')?.port,
      smtps: server.smtp?.addresses.find((a) => a.tls === 'implicit')?.port,
      pop3: server.pop3?.addresses.find((a) => a.tls === 'starttls')?.port,
      pop3s: server.pop3?.addresses.find((a) => a.tls === 'implicit')?.port,
    };
    io.out(
      instructions({
        configFile,
        ca: dovecot.certs.caCert,
        passcode: created.formatted,
        ports,
        portal: server.portal?.url ?? null,
        admin: { token: adminToken, file: adminTokenFile },
      }),
    );
    if (values.check) {
      const ok = await runDemoCheck({
        io,
        ca: dovecot.certs.caCert,
        passcode: created.formatted,
        ports,
        portal: server.portal?.url ?? null,
      });
      return ok ? 0 : 1;
    }
    io.out('mailgate is running. Press Ctrl-C to stop the demo.');
    await new Promise<void>((r) => {
      process.once('SIGINT', () => r());
      process.once('SIGTERM', () => r());
    });
    return 0;
  } finally {
    await server?.close();
    await postfix?.stop();
    await dovecot?.stop();
  }
}

function instructions(o: {
  configFile: string;
  ca: string;
  passcode: string;
  portal: string | null;
  admin: { token: string; file: string };
  ports: {
    imap: number;
    imaps: number;
    smtp?: number | undefined;
    smtps?: number | undefined;
    pop3?: number | undefined;
    pop3s?: number | undefined;
  };
}): string {
  const compact = o.passcode.replace(/ /g, '');
  const smtp = o.ports.smtps
    ? `
  SMTP submission  127.0.0.1 port ${o.ports.smtp} (STARTTLS) or ${o.ports.smtps} (SSL/TLS)
  Send a message with the passcode:
    curl -sS --ssl-reqd --cacert ${o.ca} --url smtps://127.0.0.1:${o.ports.smtps} --user 'alice@example.com:${compact}' \\
         --mail-from alice@example.com --mail-rcpt bob@example.com -T - <<< $'Subject: hi from mailgate\\r\\n\\r\\nIt works.'
`
    : '\n  (Postfix is not installed, so the demo has no SMTP: apt-get install postfix)\n';
  return `
mailgate demo is ready. Everything runs on 127.0.0.1; the certificate is signed by a demo CA:
  CA certificate   ${o.ca}
  Configuration    ${o.configFile}   (try: npx mailgate accounts list --config ${o.configFile})

  Account under enforcement   alice@example.com   main password "${ALICE.password}" is REFUSED for mail apps
  Its application passcode    ${o.passcode}
  Account not enforced        bob@example.com     password "${BOB.password}" works as before

  IMAP             127.0.0.1 port ${o.ports.imap} (STARTTLS) or ${o.ports.imaps} (SSL/TLS)
  Read the inbox with the passcode:
    curl -sS --cacert ${o.ca} --url 'imaps://127.0.0.1:${o.ports.imaps}/INBOX?ALL' --user 'alice@example.com:${compact}'
  The main password is refused:
    curl -sS --cacert ${o.ca} --url 'imaps://127.0.0.1:${o.ports.imaps}/INBOX?ALL' --user '${ALICE.user}:${ALICE.password}'
  By hand:
    openssl s_client -quiet -CAfile ${o.ca} -connect 127.0.0.1:${o.ports.imaps}
    a1 LOGIN alice@example.com "${o.passcode}"
${smtp}${
  o.ports.pop3s
    ? `
  POP3             127.0.0.1 port ${o.ports.pop3} (STLS) or ${o.ports.pop3s} (SSL/TLS)
  List the messages with the passcode (add /1 to the URL to download the first):
    curl -sS --cacert ${o.ca} --url 'pop3s://127.0.0.1:${o.ports.pop3s}/' --user 'alice@example.com:${compact}'
`
    : ''
}
  Mail apps: server 127.0.0.1, the ports above, user alice@example.com, password = the passcode
  (your app must trust ${o.ca}, or accept the certificate when asked).
${
  o.portal
    ? `
  Self-service portal  ${o.portal}
  Sign in as ${BOB.user} / ${BOB.password} and turn on two-factor authentication with an
  authenticator app (or: oathtool --totp -b KEY, with the key the page shows); then create a
  passcode for a mail app there — from then on bob's main password is refused for mail apps.

  Admin API        ${o.portal}api/admin   token ${o.admin.token}   (also in ${o.admin.file})
    curl -sS -H 'Authorization: Bearer ${o.admin.token}' ${o.portal}api/admin/accounts
`
    : ''
}`;
}
