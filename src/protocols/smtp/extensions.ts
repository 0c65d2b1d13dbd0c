/**
 * What the front advertises in EHLO is what the upstream really supports: its extensions, learned
 * by a probe at start and refreshed on every upstream login, in the upstream's order. After the
 * login the client talks to the upstream itself, so only extensions that work through a splice
 * and mean the same there are offered; STARTTLS and AUTH are mailgate's own, and the upstream's
 * privileges for mailgate (XCLIENT, XFORWARD) or its address probes (VRFY, ETRN) never are.
 */
import type { UpstreamConfig } from '../../config/types.js';
import type { Logger } from '../../runtime/logger.js';
import { SmtpUpstream, type Extensions } from './upstream.js';

/** Passed on when the upstream has them (RFC 1870, 6152, 6531, 3461, 2034, 2920, 3030, 8689). */
const MIRRORED = new Set([
  'SIZE',
  '8BITMIME',
  'SMTPUTF8',
  'DSN',
  'ENHANCEDSTATUSCODES',
  'PIPELINING',
  'CHUNKING',
  'BINARYMIME',
  'REQUIRETLS',
]);

export interface EhloState {
  /** STARTTLS can be offered (a STARTTLS listener, not yet secure, a certificate configured). */
  starttls: boolean;
  /** AUTH can be offered (TLS, or plaintext allowed by the admin). */
  auth: boolean;
}

const REPROBE_INTERVAL_MS = 30_000;

export class UpstreamExtensions {
  private ext: Extensions | null = null;
  private probing: Promise<void> | null = null;
  private lastProbe = 0;

  constructor(
    private readonly cfg: UpstreamConfig,
    private readonly ehloName: string,
    private readonly log: Logger,
  ) {}

  get known(): boolean {
    return this.ext !== null;
  }

  /** Our replies carry enhanced codes when the upstream's do (and before it was seen). */
  get enhancedStatusCodes(): boolean {
    return this.ext === null || this.ext.has('ENHANCEDSTATUSCODES');
  }

  /** The EHLO keywords after the first line, in the upstream's order, ours in place of its own. */
  keywords(state: EhloState): string[] {
    const out: string[] = [];
    let starttls = false;
    let auth = false;
    const ext = this.ext ?? new Map([['ENHANCEDSTATUSCODES', '']]);
    for (const [k, v] of ext) {
      if (MIRRORED.has(k)) out.push(v ? `${k} ${v}` : k);
      else if (k === 'STARTTLS' && state.starttls) {
        out.push('STARTTLS');
        starttls = true;
      } else if (k === 'AUTH' && state.auth) {
        out.push('AUTH PLAIN LOGIN');
        auth = true;
      }
    }
    // An upstream seen over TLS lists neither: ours go where Postfix puts them, after SIZE/PIPELINING.
    const missing = [...(state.starttls && !starttls ? ['STARTTLS'] : []), ...(state.auth && !auth ? ['AUTH PLAIN LOGIN'] : [])];
    const at = Math.max(...['PIPELINING', 'SIZE'].map((k) => out.findIndex((x) => x === k || x.startsWith(`${k} `)))) + 1;
    out.splice(at > 0 ? at : out.length, 0, ...missing);
    return out;
  }

  /** Takes the extensions of an upstream session (after its last EHLO). */
  learn(ext: Extensions): void {
    const before = this.ext ? [...this.ext.keys()].join(' ') : null;
    this.ext = ext;
    const now = [...ext.keys()].join(' ');
    if (now !== before) this.log.info({ upstreamExtensions: now }, 'SMTP extensions mirrored from the upstream');
  }

  /** Connects, reads EHLO (after STARTTLS), says QUIT. Throws when the upstream cannot be used. */
  probe(): Promise<void> {
    this.probing ??= (async () => {
      this.lastProbe = Date.now();
      try {
        const up = await SmtpUpstream.open(this.cfg, this.ehloName);
        this.learn(up.extensions);
        up.quit();
      } finally {
        this.probing = null;
      }
    })();
    return this.probing;
  }

  /** While nothing is known yet, probes again in the background now and then. */
  probeIfUnknown(): void {
    if (this.known || this.probing || Date.now() - this.lastProbe < REPROBE_INTERVAL_MS) return;
    this.probe().catch((e: Error) => this.log.debug({ err: e.message }, 'SMTP upstream probe failed'));
  }
}
