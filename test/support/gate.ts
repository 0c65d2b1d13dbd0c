/**
 * Starts mailgate in front of a test Dovecot (and later Postfix) with a config built the way an
 * admin writes it (YAML keys, validated by the real loader), on port 0, with logs captured in
 * memory so tests can assert on them (and on the absence of secrets).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { buildConfig } from '../../src/config/load.js';
import { createLogger } from '../../src/runtime/logger.js';
import { startServer, type Server } from '../../src/main.js';
import type { DovecotInstance } from '../../src/demo/dovecot.js';
import type { PostfixInstance } from '../../src/demo/postfix.js';

/** What a gate needs of its IMAP upstream: a Dovecot or a Cyrus testbed (src/demo/). */
export type ImapTestUpstream = Pick<DovecotInstance, 'imapPort' | 'certs' | 'master' | 'users'>;

export interface Gate {
  server: Server;
  /** STARTTLS-style IMAP port (clear until STARTTLS). */
  imapPort: number;
  /** Implicit-TLS IMAP port. */
  imapsPort: number;
  /** SMTP submission, STARTTLS-style (0 when no Postfix was given). */
  smtpPort: number;
  /** SMTP submission, implicit TLS (0 when no Postfix was given). */
  smtpsPort: number;
  /** POP3 with STLS / implicit TLS (0 unless the overrides have a pop3 section: pop3Section()). */
  pop3Port: number;
  pop3sPort: number;
  ca: string;
  dir: string;
  logs(): string;
  close(): Promise<void>;
}

export type Overrides = Record<string, unknown>;

/** Deep-merges plain objects (arrays and scalars replace). */
function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur)
        ? merge(cur as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

/**
 * Connect + greeting + STARTTLS with the test upstreams. Production's default (10 s): under CI load
 * (2 cores shared by every suite) a Cyrus pop3d forked per connection can greet later than the 3 s
 * used before: the likeliest cause of one CI run where a wrong password was answered [SYS/TEMP]
 * ("upstream unavailable") instead of the normal failure.
 */
const UPSTREAM_CONNECT_TIMEOUT = '10s';

export function gateConfigDoc(
  dovecot: ImapTestUpstream,
  dir: string,
  overrides: Overrides = {},
  postfix?: PostfixInstance,
): Record<string, unknown> {
  const smtp = postfix
    ? {
        smtp: {
          listen: [
            { host: '127.0.0.1', port: 0, tls: 'starttls' },
            { host: '127.0.0.1', port: 0, tls: 'implicit' },
          ],
          upstream: {
            host: '127.0.0.1',
            port: postfix.submissionPort,
            tls: 'starttls',
            ca: dovecot.certs.caCert,
            trusted: true,
            connect_timeout: UPSTREAM_CONNECT_TIMEOUT,
            auth: { method: 'xclient' },
          },
        },
      }
    : {};
  return merge(
    {
      ...smtp,
      store: { sqlite: join(dir, 'mailgate.db') },
      secret_file: join(dir, 'secret.key'),
      tls: { cert: dovecot.certs.cert, key: dovecot.certs.key },
      imap: {
        listen: [
          { host: '127.0.0.1', port: 0, tls: 'starttls' },
          { host: '127.0.0.1', port: 0, tls: 'implicit' },
        ],
        upstream: {
          host: '127.0.0.1',
          port: dovecot.imapPort,
          tls: 'starttls',
          ca: dovecot.certs.caCert,
          trusted: true,
          connect_timeout: UPSTREAM_CONNECT_TIMEOUT,
          auth: { method: 'sasl-proxy', user: dovecot.master.user, password: dovecot.master.password },
        },
      },
      policy: { enforce: ['alice@example.com'] },
      // All test clients share 127.0.0.x: keep blocking out of the way unless a test asks for it.
      // The refusal hint (on in production) is off here so suites about other things see the one plain
      // failure line; test/e2e/refusal-hint.test.ts and fail-timing.test.ts turn it on.
      auth: {
        bcrypt_cost: 4,
        hash_workers: 1,
        failure_delay: '10ms',
        refusal_hint: false,
        throttle: { block_after: 1000, account_ceiling: 1000 },
      },
      limits: { idle_timeout: '20s' },
      log: { level: 'debug' },
      // Security notices APPEND to the users' INBOXes in the background, which would shift message
      // counts and open sockets in suites about other things; test/e2e/notify.test.ts turns them on.
      notify: { enabled: false },
    },
    overrides,
  );
}

/** A `pop3:` section in front of the test Dovecot's POP3 port, as an admin writes it (pass it in the overrides). */
export function pop3Section(dovecot: Pick<DovecotInstance, 'pop3Port' | 'certs' | 'master'>): Overrides {
  return {
    pop3: {
      listen: [
        { host: '127.0.0.1', port: 0, tls: 'starttls' },
        { host: '127.0.0.1', port: 0, tls: 'implicit' },
      ],
      upstream: {
        host: '127.0.0.1',
        port: dovecot.pop3Port,
        tls: 'starttls',
        ca: dovecot.certs.caCert,
        trusted: true,
        connect_timeout: UPSTREAM_CONNECT_TIMEOUT,
        auth: { method: 'sasl-proxy', user: dovecot.master.user, password: dovecot.master.password },
      },
    },
  };
}

export async function startGate(dovecot: ImapTestUpstream, overrides: Overrides = {}, postfix?: PostfixInstance): Promise<Gate> {
  const dir = mkdtempSync(join(tmpdir(), 'mailgate-test-'));
  const config = buildConfig(gateConfigDoc(dovecot, dir, overrides, postfix), join(dir, 'mailgate.yaml'));
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const server = await startServer(config, { log: createLogger({ level: config.log.level, destination: sink }) });
  // Every secret this gate ever saw: its logs are checked for them when it closes (debug level),
  // so every end-to-end suite doubles as a "no secret in any log" test.
  const secrets = new Set<string>([dovecot.master.password, ...dovecot.users.map((u) => u.password)]);
  const manager = server.core.manager;
  const create = manager.createPasscode.bind(manager);
  manager.createPasscode = async (...args) => {
    const r = await create(...args);
    secrets.add(r.passcode).add(r.formatted);
    return r;
  };
  const addrs = server.imap?.addresses ?? [];
  const smtpAddrs = server.smtp?.addresses ?? [];
  const pop3Addrs = server.pop3?.addresses ?? [];
  return {
    server,
    dir,
    ca: dovecot.certs.caCert,
    imapPort: addrs.find((a) => a.tls !== 'implicit')?.port ?? 0,
    imapsPort: addrs.find((a) => a.tls === 'implicit')?.port ?? 0,
    smtpPort: smtpAddrs.find((a) => a.tls !== 'implicit')?.port ?? 0,
    smtpsPort: smtpAddrs.find((a) => a.tls === 'implicit')?.port ?? 0,
    pop3Port: pop3Addrs.find((a) => a.tls !== 'implicit')?.port ?? 0,
    pop3sPort: pop3Addrs.find((a) => a.tls === 'implicit')?.port ?? 0,
    logs: () => lines.join(''),
    async close() {
      await server.close();
      const text = lines.join('');
      const leaked = [...secrets].filter((x) => x.length >= 6 && text.includes(x));
      if (leaked.length) throw new Error(`a secret reached mailgate's log (${leaked.length} of ${secrets.size} checked)`);
    },
  };
}
