/**
 * SMTP submission on the front skeleton: listeners (front/listener.ts), a session per connection
 * (session.ts) until AUTH, then the splice. The upstream's extensions are probed at start so the
 * first EHLO already shows them.
 */
import type { Limits, ListenConfig } from '../../config/types.js';
import { startListeners, type FrontListener } from '../front/listener.js';
import { smtpAdapter } from './adapter.js';
import { UpstreamExtensions } from './extensions.js';
import { formatReply, R } from './replies.js';
import { SmtpSession, type SmtpDeps } from './session.js';
import { SmtpUpstream } from './upstream.js';
import { WarmPool } from '../../net/pool.js';

export type SmtpFront = FrontListener & { readonly pool: WarmPool<SmtpUpstream> };
export type { SmtpSettings } from './session.js';

/** Binds the SMTP listeners of `listen`. */
export async function startSmtpFront(
  deps: Omit<SmtpDeps, 'extensions' | 'adapter'>,
  listen: readonly ListenConfig[],
  limits: Pick<Limits, 'maxPreLoginPerIp' | 'maxConnections'>,
): Promise<SmtpFront> {
  const s = deps.settings;
  for (const l of listen)
    if (l.tls !== 'none' && !deps.tls) throw new Error(`an SMTP listener with tls: ${l.tls} needs tls.cert and tls.key`);
  const extensions = new UpstreamExtensions(s.upstream, s.hostname, deps.log);
  try {
    await extensions.probe();
  } catch (e) {
    deps.log.warn({ err: (e as Error).message }, 'SMTP upstream not reachable at start; will retry');
  }
  // Ready upstream connections (greeted, EHLO and STARTTLS done) for the next logins; size 0: none.
  const pool = new WarmPool<SmtpUpstream>(
    {
      open: () => SmtpUpstream.open(s.upstream, s.hostname),
      usable: (up) => up.idle,
      close: (up) => up.quit(),
      onError: (e) => deps.log.warn({ err: e.message }, 'SMTP upstream: cannot open a connection for the pool'),
    },
    s.upstream.pool ?? { size: 0, maxAgeMs: 0 },
  );
  const adapter: SmtpDeps['adapter'] = (helo, log) =>
    smtpAdapter({ cfg: s.upstream, hostname: s.hostname, extensions, log, helo, take: () => pool.take() });
  const full: SmtpDeps = Object.assign(deps, { extensions, adapter });
  const before = new Set<SmtpSession>();
  const listener = await startListeners({
    name: 'SMTP',
    listen,
    limits,
    holder: full,
    log: deps.log,
    tooManyConnections: formatReply(R.tooManyConnections, extensions.enhancedStatusCodes),
    session: async (socket, starttls, peer) => {
      const session = new SmtpSession(socket, full, starttls, peer);
      before.add(session);
      try {
        await session.run();
      } finally {
        before.delete(session);
      }
    },
  });
  return {
    ...listener,
    pool,
    async close() {
      // Every session gets its 421 before the sockets go: spliced ones through the registry.
      deps.sessions.closeWhere((x) => x.protocol === 'smtp', 'shutdown');
      await Promise.race([Promise.all([...before].map((x) => x.shutdown())), new Promise((r) => setTimeout(r, 200))]);
      await listener.close();
      pool.close();
    },
  };
}
