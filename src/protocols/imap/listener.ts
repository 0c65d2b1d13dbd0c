/**
 * IMAP listeners on the front skeleton (front/listener.ts): each accepted socket becomes an
 * ImapSession, which runs until logout, close, or hand-off to the upstream.
 */
import type { Limits, ListenConfig } from '../../config/types.js';
import { startListeners, type FrontListener } from '../front/listener.js';
import { R } from './responses.js';
import { ImapSession, type ImapDeps } from './session.js';

export type ImapFront = FrontListener;

/** Binds the IMAP listeners of `listen`. */
export function startImapFront(
  deps: ImapDeps,
  listen: readonly ListenConfig[],
  limits: Pick<Limits, 'maxPreLoginPerIp' | 'maxConnections'>,
): Promise<ImapFront> {
  return startListeners({
    name: 'IMAP',
    listen,
    limits,
    holder: deps,
    log: deps.log,
    tooManyConnections: `${R.tooManyConnections}\r\n`,
    session: (socket, starttls, peer) => new ImapSession(socket, deps, starttls, peer).run(),
  });
}
