/**
 * IMAP's upstream adapter for the one login flow (front/login.ts): connect, forward the client
 * (ID x-originating-ip …), log in as the account, and classify the answer in mailgate's terms.
 */
import type { UpstreamConfig } from '../../config/types.js';
import type { ClientInfo, UpstreamAdapter, UpstreamCredentials, UpstreamLogin } from '../front/types.js';
import { UpstreamError } from '../../net/upstream.js';
import type { UpstreamInfo } from './upstream-info.js';
import type { ImapUpstream, LoginResult } from './upstream.js';

/** A logged-in upstream and its tagged answer, which goes back under the client's tag. */
export interface ImapLoggedIn {
  up: ImapUpstream;
  result: LoginResult;
}

/** `clientId()` gives the client's ID fields at login time (forwarded so upstream logs show them). */
export function imapAdapter(
  cfg: UpstreamConfig,
  info: UpstreamInfo,
  clientId: () => Array<[string, string]>,
): UpstreamAdapter<ImapLoggedIn> {
  return {
    protocol: 'imap',
    upstreamLabel: `${cfg.host}:${cfg.port}`,
    async login(creds: UpstreamCredentials, client: ClientInfo): Promise<UpstreamLogin<ImapLoggedIn>> {
      let up: ImapUpstream | null = null;
      const attempt = async (u: ImapUpstream) => {
        // ID (the client's address) and the login go in one write: one round trip, not two.
        const id = u.clientInfoCommand({ ...client, clientId: clientId() });
        return u.login(
          creds.kind === 'master'
            ? { kind: 'master', user: creds.account }
            : { kind: 'user', user: creds.account, password: creds.password },
          id,
        );
      };
      try {
        const taken = await info.take();
        up = taken.up;
        let result: LoginResult;
        try {
          result = await attempt(up);
        } catch (e) {
          // A pooled connection the upstream closed meanwhile (restart, its timeout): once more on
          // a new one, so the client never sees it.
          if (!taken.pooled || !up.conn.closed) throw e;
          up.close();
          up = await info.open();
          result = await attempt(up);
        }
        if (result.status === 'OK') return { kind: 'ok', session: { up, result } };
        up.close();
        const detail = result.text;
        return result.refusal === 'unknown-user' ? { kind: 'unknown-account', detail } : { kind: 'refused', detail, server: up.family };
      } catch (e) {
        up?.close();
        return { kind: 'unavailable', stage: e instanceof UpstreamError ? e.stage : 'internal', detail: (e as Error).message };
      }
    },
    detach: (s) => s.up.conn.detach(),
    close: (s) => s.up.close(),
  };
}
