/**
 * Fuzz target: mailgate's IMAP pre-login front on loopback, with a policy stub that refuses every
 * login (what is fuzzed is the protocol handling, not the policy). Shared by the bounded property
 * test in CI and by `npm run fuzz` for long runs.
 */
import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { SessionRegistry } from '../../src/core/sessions.js';
import type { Authenticator } from '../../src/core/authenticate.js';
import { createLogger } from '../../src/runtime/logger.js';
import { loadServerTls } from '../../src/net/tls.js';
import { startImapFront, type ImapFront } from '../../src/protocols/imap/listener.js';
import { UpstreamInfo } from '../../src/protocols/imap/upstream-info.js';
import { makeCerts } from '../../src/demo/certs.js';

export interface FuzzTarget {
  port: number;
  front: ImapFront;
  close(): Promise<void>;
}

export async function startFuzzTarget(
  limits: { idleTimeoutMs?: number; maxPreLoginPerIp?: number; maxConnections?: number; maxPreLoginCommands?: number } = {},
): Promise<FuzzTarget> {
  const certs = await makeCerts(mkdtempSync(join(tmpdir(), 'mailgate-fuzz-')));
  const refuseAll: Authenticator = {
    authenticate: async (req) => ({ kind: 'reject', account: req.user, reason: 'unknown-passcode', delayMs: 0 }),
    recordUpstreamResult: async () => 0,
    setPolicy: () => {},
  };
  const upstream = {
    host: '127.0.0.1',
    port: 1,
    tls: 'none' as const,
    ca: null,
    servername: null,
    rejectUnauthorized: true,
    trusted: false,
    auth: { method: 'sasl-proxy' as const, user: 'm', password: 'p' },
    connectTimeoutMs: 500,
  };
  const front = await startImapFront(
    {
      settings: {
        upstream,
        allowPlaintextAuth: false,
        failureDelayMs: 0,
        failureJitterMs: 0,
        idleTimeoutMs: limits.idleTimeoutMs ?? 2000,
        maxBadCommands: 5,
        maxLineBytes: 1024,
        maxLiteralBytes: 1024,
        maxPreLoginCommands: limits.maxPreLoginCommands ?? 50,
      },
      tls: loadServerTls({ cert: certs.cert, key: certs.key }),
      authenticator: refuseAll,
      sessions: new SessionRegistry(),
      upstreamInfo: new UpstreamInfo(upstream),
      log: createLogger({ level: 'silent' }),
      now: Date.now,
    },
    [{ host: '127.0.0.1', port: 0, tls: 'starttls' }],
    { maxPreLoginPerIp: limits.maxPreLoginPerIp ?? 10_000, maxConnections: limits.maxConnections ?? 10_000 },
  );
  return { port: front.addresses[0]!.port, front, close: () => front.close() };
}

const WELL_FORMED = /^(\* |\+ |[\x21-\x7e]+ (OK|NO|BAD)\b)/;

/** Sends the chunks, collects the answer until the server closes or goes quiet. */
export async function exchange(port: number, chunks: Buffer[], quietMs = 60): Promise<{ lines: string[]; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    let data = '';
    let closed = false;
    let timer: NodeJS.Timeout | undefined;
    // Only complete lines count: a quiet period may fall in the middle of one.
    const done = () => {
      clearTimeout(timer);
      s.destroy();
      resolve({
        lines: data
          .split('\r\n')
          .slice(0, -1)
          .filter((l) => l !== ''),
        closed,
      });
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(done, quietMs);
    };
    let sent = false;
    s.setEncoding('latin1');
    // Send only after the greeting, then wait for a quiet period: a loaded machine must not turn
    // a slow greeting into a false failure.
    s.on('data', (d: string) => {
      data += d;
      if (!sent) {
        sent = true;
        for (const c of chunks) s.write(c);
      }
      arm();
    });
    s.on('close', () => {
      closed = true;
      done();
    });
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'ECONNRESET' && e.code !== 'EPIPE') reject(e);
    });
    s.on('connect', () => {
      timer = setTimeout(done, 5000);
    });
  });
}

/** The invariant: every line is a well-formed IMAP response (greeting included). */
export function malformedLines(lines: string[]): string[] {
  return lines.filter((l) => !WELL_FORMED.test(l));
}

const atom = fc.stringMatching(/^[A-Za-z0-9.@_-]{1,12}$/);
const tricky = fc.constantFrom(
  '{5}',
  '{5+}',
  '{99999}',
  '{0}',
  '(',
  ')',
  '"',
  '\\',
  '*',
  '=',
  '\x00',
  '\xff',
  ' ',
  '\r',
  '\n',
  '\r\n',
  '~{3}',
  'NIL',
  '[',
  ']',
);
const command = fc.oneof(
  fc
    .tuple(
      atom,
      fc.constantFrom(
        'CAPABILITY',
        'NOOP',
        'ID',
        'LOGIN',
        'AUTHENTICATE',
        'STARTTLS',
        'SELECT',
        'LOGOUT',
        'authenticate plain',
        'ID (',
        'login "a" {3}',
      ),
      fc.array(fc.oneof(atom, tricky), { maxLength: 6 }),
    )
    .map(([tag, name, args]) => `${tag} ${name}${args.length ? ' ' : ''}${args.join(' ')}\r\n`),
  fc.string({ maxLength: 40 }).map((s) => `${s}\r\n`),
  fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString('latin1')),
  fc.constantFrom('GET / HTTP/1.1\r\nHost: x\r\n\r\n', '+\r\n', '*\r\n', 'a AUTHENTICATE PLAIN\r\n=\r\n', 'a LOGIN {2000}\r\n'),
);

/** Inputs: a sequence of commands, cut into packets at random points. */
export const fuzzInput = fc.tuple(fc.array(command, { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 64 })).map(([cmds, cut]) => {
  const all = Buffer.from(cmds.join(''), 'latin1');
  const chunks: Buffer[] = [];
  for (let i = 0; i < all.length; i += cut) chunks.push(all.subarray(i, i + cut));
  return chunks;
});
