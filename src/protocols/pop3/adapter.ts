/**
 * POP3's upstream adapter for the one login flow (front/login.ts): one fresh upstream connection
 * per login (upstream.ts: greeting, STLS, XCLIENT ADDR= PORT=), logged in as the account with the
 * configured master credentials, or with the user's own password for passthrough, and the answer
 * classified in mailgate's terms.
 */
import type { Socket } from 'node:net';
import type { UpstreamConfig } from '../../config/types.js';
import { UpstreamError } from '../../net/upstream.js';
import type { UpstreamAdapter, UpstreamCredentials, UpstreamLogin } from '../front/types.js';
import { detectPop3Family, pop3Traits } from './family.js';
import { Pop3Upstream, type LoginCredentials } from './upstream.js';

/** A logged-in upstream: its socket (detached from our reader) and its "+OK", which the client gets as is. */
export interface Pop3LoggedIn {
  link: { socket: Socket; rest: Buffer };
  reply: string;
}

/** What the adapter learns from every upstream connection (the pre-login face clients see). */
export interface Pop3Learner {
  learnGreeting(greeting: string): void;
  readonly saslPlain: boolean;
}

/** RFC 3206: the server's own trouble, not the credentials. */
const SYSTEM_ERROR = /^-ERR \[SYS\//i;

/** The production adapter; `info` learns the upstream's greeting and says whether it takes AUTH PLAIN. */
export function pop3Adapter(cfg: UpstreamConfig, info: Pop3Learner): UpstreamAdapter<Pop3LoggedIn> {
  return {
    protocol: 'pop3',
    upstreamLabel: `${cfg.host}:${cfg.port}`,
    async login(creds: UpstreamCredentials, client): Promise<UpstreamLogin<Pop3LoggedIn>> {
      const login: LoginCredentials =
        creds.kind === 'master' ? { kind: 'master', user: creds.account } : { kind: 'user', user: creds.account, password: creds.password };
      // A name or secret with a line break (possible inside SASL base64) would smuggle a second
      // command upstream on a USER/PASS line: refused like any wrong password.
      if (/[\r\n\0]/.test(login.user) || (login.kind === 'user' && !info.saslPlain && /[\r\n]/.test(login.password))) {
        return { kind: 'refused', detail: 'line break in the credentials' };
      }
      let up: Pop3Upstream | null = null;
      try {
        up = await Pop3Upstream.open(cfg);
        info.learnGreeting(up.greeting);
        // XCLIENT and a one-line AUTH PLAIN go in one write: one round trip, not two.
        const reply = await up.login(login, info.saslPlain, up.xclientLine(client));
        if (reply.startsWith('+OK')) return { kind: 'ok', session: { link: up.conn.detach(), reply } };
        up.close();
        const detail = reply.slice(0, 200);
        // Before SYSTEM_ERROR: Cyrus says "no such user" with a [SYS/TEMP] code (family.ts).
        if (creds.kind === 'master' && pop3Traits(detectPop3Family(up.greeting)).unknownUser.test(reply))
          return { kind: 'unknown-account', detail };
        if (SYSTEM_ERROR.test(reply)) return { kind: 'unavailable', stage: 'login', detail };
        return { kind: 'refused', detail };
      } catch (e) {
        up?.close();
        return { kind: 'unavailable', stage: e instanceof UpstreamError ? e.stage : 'internal', detail: (e as Error).message };
      }
    },
    detach: (s) => s.link,
    close: (s) => {
      s.link.socket.destroy();
    },
  };
}
