/**
 * What the front advertises in EHLO is what the upstream really supports: learned from the
 * upstream's EHLO by a probe at start and refreshed on every upstream connection, then applied
 * to the smtp-server instances (their options are read at each EHLO).
 */
import type { SMTPServer } from 'smtp-server';
import type { UpstreamConfig } from '../../config/types.js';
import type { Logger } from '../../net/logger.js';
import { SmtpUpstream, type Extensions } from './upstream.js';

/** The smtp-server options that mirror upstream extensions. */
export interface MirroredOptions {
  size: number | undefined;
  hidePIPELINING: boolean;
  hide8BITMIME: boolean;
  hideSMTPUTF8: boolean;
  hideDSN: boolean;
  hideENHANCEDSTATUSCODES: boolean;
  hideREQUIRETLS: boolean;
}

/**
 * Until the upstream has been seen, no optional extension is advertised except enhanced status
 * codes, which only concern our own replies (smtp-server supplies a code for an upstream reply
 * that has none).
 */
export function mirror(ext: Extensions | null): MirroredOptions {
  const has = (k: string) => (ext === null ? k === 'ENHANCEDSTATUSCODES' : ext.has(k));
  const size = Number.parseInt(ext?.get('SIZE') ?? '', 10);
  return {
    size: Number.isFinite(size) && size > 0 ? size : undefined,
    hidePIPELINING: !has('PIPELINING'),
    hide8BITMIME: !has('8BITMIME'),
    hideSMTPUTF8: !has('SMTPUTF8'),
    hideDSN: !has('DSN'),
    hideENHANCEDSTATUSCODES: !has('ENHANCEDSTATUSCODES'),
    hideREQUIRETLS: !has('REQUIRETLS'),
  };
}

const REPROBE_INTERVAL_MS = 30_000;

export class UpstreamCapabilities {
  private ext: Extensions | null = null;
  private readonly servers = new Set<SMTPServer>();
  private probing: Promise<void> | null = null;
  private lastProbe = 0;

  constructor(private readonly cfg: UpstreamConfig, private readonly ehloName: string, private readonly log: Logger) {}

  get known(): boolean { return this.ext !== null; }
  get options(): MirroredOptions { return mirror(this.ext); }
  get enhancedStatusCodes(): boolean { return !this.options.hideENHANCEDSTATUSCODES; }

  attach(server: SMTPServer): void {
    this.servers.add(server);
    Object.assign(server.options, this.options);
  }

  detach(server: SMTPServer): void { this.servers.delete(server); }

  /** Takes the extensions of an upstream session (after its last EHLO). */
  learn(ext: Extensions): void {
    const before = JSON.stringify(this.options);
    this.ext = ext;
    const now = this.options;
    if (JSON.stringify(now) === before) return;
    for (const s of this.servers) Object.assign(s.options, now);
    this.log.info({ upstreamExtensions: [...ext.keys()].join(' '), size: now.size }, 'SMTP extensions mirrored from the upstream');
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
