/**
 * POP3 on the front skeleton: listeners (front/listener.ts: port 110 style until STLS, 995 style
 * implicit TLS, the per-address pre-login cap and its refusal summaries), a session per connection
 * (session.ts) until login, then the splice.
 */
import type { Limits, ListenConfig } from '../../config/types.js';
import { startListeners, type FrontListener } from '../front/listener.js';
import { R } from './responses.js';
import { Pop3Session, type Pop3Deps } from './session.js';

export type Pop3Front = FrontListener;
export type { Pop3Deps, Pop3Settings } from './session.js';

/** Binds the POP3 listeners of `listen`. */
export function startPop3Front(
  deps: Pop3Deps,
  listen: readonly ListenConfig[],
  limits: Pick<Limits, 'maxPreLoginPerIp' | 'maxConnections'>,
): Promise<Pop3Front> {
  return startListeners({
    name: 'POP3',
    listen,
    limits,
    holder: deps,
    log: deps.log,
    tooManyConnections: `${R.tooManyConnections}\r\n`,
    session: (socket, starttls, peer) => new Pop3Session(socket, deps, starttls, peer).run(),
  });
}
