/**
 * What the upstream looks like before login: its capabilities, greeting text and ID answer,
 * probed at start and refreshed from every later upstream connection, so the pre-login
 * dialogue a client sees matches the real server.
 */
import { ImapUpstream } from './upstream.js';
import type { UpstreamConfig } from '../../config/types.js';
import { WarmPool } from '../../net/pool.js';

export class UpstreamInfo {
  capabilities: string[] = ['IMAP4rev1', 'ENABLE', 'IDLE'];
  greetingText = 'IMAP server ready.';
  idResponse = '* ID NIL';
  probed = false;

  /** Logins on a pooled connection, on a new one, and retried after a pooled one turned out dead. */
  readonly stats = { pooled: 0, fresh: 0, retried: 0 };
  /** Ready connections for the next logins (`upstream.pool`; size 0 when not configured). */
  private readonly pool: WarmPool<ImapUpstream>;

  constructor(
    private readonly cfg: UpstreamConfig,
    onPoolError?: (e: Error) => void,
  ) {
    this.pool = new WarmPool<ImapUpstream>(
      {
        open: () => ImapUpstream.open(cfg),
        // Anything unread (a "* BYE" before the upstream hung up) makes it unusable too.
        usable: (up) => !up.conn.closed && up.conn.reader.bufferedBytes === 0,
        close: (up) => up.close(),
        onError: onPoolError,
      },
      cfg.pool ?? { size: 0, maxAgeMs: 0 },
    );
  }

  /** A connection ready to log in (from the pool when there is one); `pooled` says which. */
  async take(): Promise<{ up: ImapUpstream; pooled: boolean }> {
    const { conn, pooled } = await this.pool.take();
    this.stats[pooled ? 'pooled' : 'fresh']++;
    this.learn(conn);
    return { up: conn, pooled };
  }

  /** Opens a new connection, bypassing the pool (the retry after a dead pooled one). */
  async open(): Promise<ImapUpstream> {
    this.stats.retried++;
    const up = await ImapUpstream.open(this.cfg);
    this.learn(up);
    return up;
  }

  close(): void {
    this.pool.close();
  }

  /** Connects once to learn the upstream's pre-login face. Throws if it is unreachable. */
  async probe(): Promise<void> {
    const up = await ImapUpstream.open(this.cfg);
    try {
      this.learn(up);
      const r = await up.command('ID NIL');
      const id = r.untagged.find((l) => /^\* ID /i.test(l));
      if (id) this.idResponse = id;
      this.probed = true;
    } finally {
      up.close();
    }
  }

  /** Refreshes what we know from an upstream connection that just got ready. */
  learn(up: ImapUpstream): void {
    // The same array while the list is equal: the greeting's capability list is worked out once per
    // array (capabilities.ts), and every login passes here.
    if (up.capabilities.length && !sameList(up.capabilities, this.capabilities)) this.capabilities = up.capabilities;
    if (up.greeting === this.lastGreeting) return;
    this.lastGreeting = up.greeting;
    const text = up.greeting.replace(/^\* OK\s*/i, '').replace(/^\[[^\]]*\]\s*/, '');
    if (text) this.greetingText = text;
  }

  private lastGreeting = '';
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
