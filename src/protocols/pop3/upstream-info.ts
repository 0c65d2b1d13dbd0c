/**
 * What the POP3 upstream looks like before login — its CAPA list and greeting text — probed at
 * start and refreshed from every later upstream connection, so the pre-login dialogue a client
 * sees matches the real server.
 */
import type { UpstreamConfig } from '../../config/types.js';
import { greetingText } from './capabilities.js';
import type { Pop3Learner } from './adapter.js';
import { Pop3Upstream } from './upstream.js';

export class Pop3UpstreamInfo implements Pop3Learner {
  /** Until a probe succeeds: what every POP3 server with RFC 2449 has. */
  capabilities: string[] = ['CAPA', 'TOP', 'UIDL', 'RESP-CODES', 'PIPELINING', 'AUTH-RESP-CODE', 'USER', 'SASL PLAIN'];
  greetingText = 'POP3 server ready.';
  probed = false;

  constructor(private readonly cfg: UpstreamConfig) {}

  /** Connects once to learn the upstream's CAPA and greeting. Throws if it is unreachable. */
  async probe(): Promise<void> {
    const up = await Pop3Upstream.open(this.cfg);
    try {
      this.learnGreeting(up.greeting);
      const caps = await up.capa();
      if (caps.length) this.capabilities = caps;
      this.probed = true;
      up.conn.write('QUIT\r\n');
    } finally {
      up.close();
    }
  }

  learnGreeting(greeting: string): void {
    const text = greetingText(greeting);
    if (text) this.greetingText = text;
  }

  /** The upstream takes AUTH PLAIN, so a passthrough login can send the password base64-encoded. */
  get saslPlain(): boolean {
    return this.capabilities.some((c) => /^SASL\b/i.test(c) && c.toUpperCase().split(/\s+/).includes('PLAIN'));
  }
}
