/**
 * One SMTP client connection before AUTH: greets at once, reads commands, dispatches them through
 * the typed registry and writes their replies (the one place that does, and counts bad ones).
 * After a good AUTH the one login flow (front/login.ts) logs the account in upstream, the client
 * gets 235 and the connection is spliced: from then on every reply is the upstream's own.
 */
import { newSessionId } from '../front/session-id.js';
import type { Socket } from 'node:net';
import type { Authenticator } from '../../core/authenticate.js';
import type { SessionRegistry } from '../../core/sessions.js';
import type { UpstreamConfig } from '../../config/types.js';
import type { Logger } from '../../runtime/logger.js';
import { startLoginTimer, type LoginTimer } from '../front/pacing.js';
import type { ServerTls } from '../../net/tls.js';
import { LineConn } from '../front/conn.js';
import { handOff, type HandOff } from '../front/handoff.js';
import { PlainLineReader, type LineTooLong } from '../front/lines.js';
import { loginFlow, refuseEarly, type LoginDeps, loginDepsOf } from '../front/login.js';
import type { EndReason, Next, RefusalHintSettings, UpstreamAdapter } from '../front/types.js';
import { COMMANDS } from './commands/index.js';
import type { UpstreamExtensions } from './extensions.js';
import { formatReply, isBad, needsPasscode, R, type SmtpReply } from './replies.js';
import type { Answer, SmtpSessionApi } from './types.js';
import { socketPeer, type Peer } from '../../net/proxied.js';

export interface SmtpSettings {
  upstream: UpstreamConfig;
  /** Our name in the greeting and EHLO. */
  hostname: string;
  allowPlaintextAuth: boolean;
  failureDelayMs: number;
  /** Random extra delay on every failure answer (front/pacing.ts). */
  failureJitterMs: number;
  idleTimeoutMs: number;
  maxBadCommands: number;
  maxLineBytes: number;
  maxPreLoginCommands: number;
  /** auth.refusal_hint with portal.public_url (absent: off). */
  refusalHint?: RefusalHintSettings;
}

export interface SmtpDeps {
  settings: SmtpSettings;
  /** Replaced on reload; read at every STARTTLS. */
  tls: ServerTls | null;
  authenticator: Authenticator;
  sessions: SessionRegistry;
  extensions: UpstreamExtensions;
  /** The upstream login (adapter.ts; a fake in tests); `helo` gives the client's EHLO name. */
  adapter: (helo: () => string, log: Logger) => UpstreamAdapter<unknown>;
  log: Logger;
  now: () => number;
}

export class SmtpSession implements SmtpSessionApi {
  readonly id = newSessionId();
  readonly conn: LineConn<LineTooLong, PlainLineReader>;
  readonly remoteIp: string;
  readonly remotePort: number;
  helo: string | null = null;
  private badCommands = 0;
  private commands = 0;
  private timer: LoginTimer | null = null;
  private readonly log: Logger;

  constructor(
    socket: Socket,
    private readonly deps: SmtpDeps,
    private readonly starttlsListener: boolean,
    // The client's address: the TCP peer, or what a PROXY header said (front/listener.ts).
    peer: Peer = socketPeer(socket),
  ) {
    this.remoteIp = peer.ip;
    this.remotePort = peer.port;
    this.log = deps.log.child({ sid: this.id, ip: this.remoteIp, proto: 'smtp' });
    this.conn = new LineConn(socket, new PlainLineReader(deps.settings.maxLineBytes), deps.settings.idleTimeoutMs);
    socket.setNoDelay?.(true);
  }

  get secure(): boolean {
    return this.conn.secure;
  }
  get plaintextAllowed(): boolean {
    return this.secure || this.deps.settings.allowPlaintextAuth;
  }
  get starttlsAvailable(): boolean {
    return this.starttlsListener && !this.secure && this.deps.tls !== null;
  }
  get hostname(): string {
    return this.deps.settings.hostname;
  }

  keywords(): string[] {
    return this.deps.extensions.keywords({ starttls: this.starttlsAvailable, auth: this.plaintextAllowed });
  }

  private write(r: SmtpReply): void {
    this.conn.write(formatReply(r, this.deps.extensions.enhancedStatusCodes));
  }
  private flush(r: SmtpReply): Promise<void> {
    return this.conn.flush(formatReply(r, this.deps.extensions.enhancedStatusCodes));
  }

  /** Runs the dialogue until QUIT, close, or hand-off to the upstream. */
  async run(): Promise<void> {
    this.log.debug('connected');
    this.deps.extensions.probeIfUnknown();
    // At once: no early-talker wait (smtp-server's 100 ms made every message cost a tenth of a second).
    this.write({ code: 220, lines: [`${this.hostname} ESMTP`] });
    try {
      for (;;) {
        const next = await this.step();
        if (next === 'continue') continue;
        if (next === 'close') this.conn.close();
        return;
      }
    } catch (e) {
      this.log.error({ err: e }, 'internal error in SMTP session');
      this.conn.destroy();
    }
  }

  /** Ends a session still before login (shutdown). */
  async shutdown(): Promise<void> {
    await this.flush(R.shuttingDown);
    this.conn.close(200);
  }

  private async step(): Promise<Next> {
    const item = await this.conn.read();
    if (item.type === 'closed') return 'close';
    if (item.type === 'timeout') {
      await this.flush(R.idleTimeout);
      return 'close';
    }
    if (item.type === 'error') return this.answer({ reply: R.lineTooLong, next: 'continue' });
    if (++this.commands > this.deps.settings.maxPreLoginCommands) {
      await this.flush(R.tooManyCommands);
      this.log.info({ commands: this.commands }, 'disconnected: too many commands before login');
      return 'close';
    }
    const line = item.data.toString('utf8');
    const sp = line.indexOf(' ');
    const verb = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
    const command = COMMANDS[verb];
    this.timer = startLoginTimer(this.deps.settings.failureJitterMs);
    return this.answer(command ? await command(this, sp < 0 ? '' : line.slice(sp + 1)) : { reply: R.unknownCommand, next: 'continue' });
  }

  /** The one place a command's answer is written; bad ones count towards the hang-up. */
  private async answer(a: Answer): Promise<Next> {
    if (a.reply && isBad(a.reply) && ++this.badCommands >= this.deps.settings.maxBadCommands) {
      this.write(a.reply);
      await this.flush(R.tooManyErrors);
      this.log.info({ badCommands: this.badCommands }, 'disconnected: invalid input');
      return 'close';
    }
    if (a.next === 'starttls') return this.startTls(a.reply ?? R.readyTls);
    if (a.reply) {
      if (a.next === 'close') await this.flush(a.reply);
      else this.write(a.reply);
    }
    // At once, not after a flush: the 235 is queued first, so the upstream's replies follow it, and
    // the session is registered before the client can act on the 235 (revocation sees it).
    a.after?.();
    return a.next;
  }

  private async startTls(ready: SmtpReply): Promise<Next> {
    await this.flush(ready);
    // upgradeServer discards whatever the client pipelined in clear (STARTTLS injection).
    const ok = await this.conn.upgradeServer(this.deps.tls!.context);
    if (!ok) {
      this.log.info('TLS handshake failed');
      return 'close';
    }
    return 'continue';
  }

  async ask(challenge: string): Promise<string | null> {
    this.write({ code: 334, lines: [challenge] });
    const item = await this.conn.read();
    if (item.type === 'line') return item.data.toString('latin1');
    return item.type === 'error' ? '' : null;
  }

  private get loginDeps(): LoginDeps {
    return loginDepsOf(this.deps.authenticator, this.deps.settings, this.log);
  }

  async login(user: string, secret: string): Promise<Answer> {
    const s = this.deps.settings;
    const adapter = this.deps.adapter(() => this.helo ?? s.hostname, this.log);
    const local = this.conn.socket;
    const r = await loginFlow(this.loginDeps, adapter, {
      protocol: 'smtp',
      user,
      secret,
      timer: this.timer ?? startLoginTimer(s.failureJitterMs),
      clientName: this.helo,
      client: {
        sessionId: this.id,
        remoteIp: this.remoteIp,
        remotePort: this.remotePort,
        localIp: local.localAddress ?? '',
        localPort: local.localPort ?? 0,
      },
    });
    if (r.kind === 'failed') {
      const hint = r.hint && s.refusalHint;
      return { reply: hint ? needsPasscode(hint.url) : R.authFailed, next: 'continue' };
    }
    if (r.kind === 'unavailable') return { reply: R.unavailable, next: 'continue' };
    if (this.conn.closed) {
      adapter.close(r.session);
      return { reply: null, next: 'close' };
    }
    const enhanced = this.deps.extensions.enhancedStatusCodes;
    return {
      reply: R.authSucceeded,
      next: 'handoff',
      after: () =>
        handOff({
          id: this.id,
          protocol: 'smtp',
          remoteIp: this.remoteIp,
          decision: r.decision,
          log: this.log.child({ user: r.decision.account }),
          // Whatever the client pipelined behind AUTH goes to the upstream, which answers it.
          client: this.conn.detach(),
          upstream: adapter.detach(r.session),
          sessions: this.deps.sessions,
          now: this.deps.now,
          ...endLines(enhanced),
        }),
    };
  }

  async refuse(): Promise<Answer> {
    await refuseEarly(this.loginDeps, this.timer ?? startLoginTimer(this.deps.settings.failureJitterMs));
    return { reply: R.authFailed, next: 'continue' };
  }
}

/**
 * The spliced session's last lines, made out here so the closures the session keeps for its
 * whole life capture `enhanced` only, not the pre-login session (front/handoff.ts).
 */
function endLines(enhanced: boolean): Pick<HandOff, 'goodbye' | 'farewell'> {
  return {
    goodbye: (reason) => goodbye(reason, null, enhanced),
    farewell: (last) => goodbye('upstream-lost', last, enhanced),
  };
}

/**
 * The client's last line when mailgate ends a spliced session. When the upstream went away after
 * its own goodbye (221 to QUIT, or its 421), nothing is added.
 */
function goodbye(reason: EndReason, last: Buffer | null, enhanced: boolean): string | null {
  if (reason === 'shutdown') return formatReply(R.shuttingDown, enhanced);
  if (reason === 'revoked' || reason === 'policy') return formatReply(R.revoked, enhanced);
  if (reason === 'expired') return formatReply(R.passcodeExpired, enhanced);
  const tail = last?.subarray(-512).toString('latin1') ?? '';
  if (/(^|\n)(221|421) [^\n]*\r?\n$/.test(tail)) return null;
  // Mid-reply from the upstream: finish its line first so ours stands on its own.
  return `${tail === '' || tail.endsWith('\n') ? '' : '\r\n'}${formatReply(R.upstreamLost, enhanced)}`;
}
