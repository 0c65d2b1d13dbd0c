/**
 * What the upstream looks like before login: its capabilities, greeting text and ID answer,
 * probed at start and refreshed from every later upstream connection, so the pre-login
 * dialogue a client sees matches the real server.
 */
import { ImapUpstream } from './upstream.js';
import type { UpstreamConfig } from '../../config/types.js';

export class UpstreamInfo {
  capabilities: string[] = ['IMAP4rev1', 'ENABLE', 'IDLE'];
  greetingText = 'IMAP server ready.';
  idResponse = '* ID NIL';
  probed = false;

  constructor(private readonly cfg: UpstreamConfig) {}

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
    if (up.capabilities.length) this.capabilities = up.capabilities;
    const text = up.greeting.replace(/^\* OK\s*/i, '').replace(/^\[[^\]]*\]\s*/, '');
    if (text) this.greetingText = text;
  }
}
