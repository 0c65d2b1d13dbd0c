/**
 * One client connection before login. Reads commands, dispatches them through the typed
 * registry, and on a successful login hands the connection to the upstream and splices.
 * The session knows the protocol; who may log in is decided by the core's Authenticator.
 */
import { newSessionId } from '../front/session-id.js';
import type { Socket } from 'node:net';
import { LineConn } from '../front/conn.js';
import { handOff, type HandOff } from '../front/handoff.js';
import { loginFlow, refuseEarly, type LoginDeps, loginDepsOf } from '../front/login.js';
import type { Logger } from '../../runtime/logger.js';
import type { ServerTls } from '../../net/tls.js';
import type { Authenticator } from '../../core/authenticate.js';
import type { SessionRegistry } from '../../core/sessions.js';
import type { UpstreamConfig } from '../../config/types.js';
import { startLoginTimer } from '../front/pacing.js';
import { imapAdapter, type ImapLoggedIn } from './adapter.js';
import type { RefusalHintSettings, UpstreamAdapter } from '../front/types.js';
import { preLoginCapabilities } from './capabilities.js';
import { COMMANDS } from './commands/index.js';
import { CompressWatch } from './compress-watch.js';
import { needsPasscode, R } from './responses.js';
import type { Next, SessionApi } from './types.js';
import type { UpstreamInfo } from './upstream-info.js';
import { LineReader, parseCommand, WireError } from './wire.js';
import { socketPeer, type Peer } from '../../net/proxied.js';

export interface ImapSettings {
  upstream: UpstreamConfig;
  allowPlaintextAuth: boolean;
  /** Delay before answering a failed login (Dovecot's auth_failure_delay is 2 s). */
  failureDelayMs: number;
  /** Random extra delay on every failure answer (front/pacing.ts). */
  failureJitterMs: number;
  idleTimeoutMs: number;
  maxBadCommands: number;
  maxLineBytes: number;
  maxLiteralBytes: number;
  maxPreLoginCommands: number;
  /** auth.refusal_hint with portal.public_url (absent: off). */
  refusalHint?: RefusalHintSettings;
}

export interface ImapDeps {
  settings: ImapSettings;
  /** Replaced on reload; read at every STARTTLS. */
  tls: ServerTls | null;
  authenticator: Authenticator;
  sessions: SessionRegistry;
  upstreamInfo: UpstreamInfo;
  /** The upstream login; default adapter.ts, a fake in tests. `clientId` gives the client's ID fields. */
  adapter?: (clientId: () => Array<[string, string]>) => UpstreamAdapter<ImapLoggedIn>;
  log: Logger;
  now: () => number;
}

const ID_MAX_BYTES = 72 * 1024;

const HTTP_REQUEST = /^(GET|POST|HEAD|PUT|DELETE|OPTIONS|CONNECT|PATCH) \S+ HTTP\/\d/;

export class ImapSession implements SessionApi {
  readonly id = newSessionId();
  readonly conn: LineConn<WireError, LineReader>;
  readonly remoteIp: string;
  readonly remotePort: number;
  private clientIdFields: Array<[string, string]> = [];
  private badCommands = 0;
  private commands = 0;
  private readonly log: Logger;

  constructor(
    socket: Socket,
    private readonly deps: ImapDeps,
    private readonly starttlsListener: boolean,
    // The client's address: the TCP peer, or what a PROXY header said (front/listener.ts).
    peer: Peer = socketPeer(socket),
  ) {
    this.remoteIp = peer.ip;
    this.remotePort = peer.port;
    this.log = deps.log.child({ sid: this.id, ip: this.remoteIp, proto: 'imap' });
    const s = deps.settings;
    const reader = new LineReader(
      {
        maxLineBytes: s.maxLineBytes,
        maxLiteralBytes: s.maxLiteralBytes,
        maxCommandBytes: s.maxLiteralBytes * 2 + s.maxLineBytes,
        // RFC 2971 allows 30 fields of 1024-octet values in one ID (~32 KiB, double that quoted with
        // escapes); Dovecot answers it, so must we. LOGIN/AUTHENTICATE stay within the strict limits.
        longCommand: { match: /^[^ ]{1,64} ID[ (]/i, maxBytes: Math.max(s.maxLineBytes, ID_MAX_BYTES) },
      },
      (size) => {
        this.conn.write(`+ Ready for ${size} bytes\r\n`);
        return true;
      },
    );
    this.conn = new LineConn(socket, reader, s.idleTimeoutMs);
    socket.setNoDelay(true);
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

  send(line: string): void {
    this.conn.write(`${line}\r\n`);
  }

  capabilities(): readonly string[] {
    return preLoginCapabilities(this.deps.upstreamInfo.capabilities, {
      secure: this.secure,
      starttlsAvailable: this.starttlsAvailable,
      allowPlaintextAuth: this.deps.settings.allowPlaintextAuth,
    });
  }

  idResponse(): string {
    return this.deps.upstreamInfo.idResponse;
  }

  setClientId(fields: Array<[string, string]>): void {
    this.clientIdFields = fields.slice(0, 30);
  }

  private clientName(): string | null {
    const get = (k: string) => this.clientIdFields.find(([f]) => f.toLowerCase() === k)?.[1];
    const name = get('name');
    return name ? `${name}${get('version') ? ` ${get('version')}` : ''}`.slice(0, 100) : null;
  }

  /** Runs the pre-login dialogue until logout, close, or hand-off to the upstream. */
  async run(): Promise<void> {
    this.log.debug('connected');
    this.send(`* OK [CAPABILITY ${this.capabilities().join(' ')}] ${this.deps.upstreamInfo.greetingText}`);
    try {
      for (;;) {
        const next = await this.step();
        if (next === 'continue') continue;
        if (next === 'close') this.conn.close();
        return;
      }
    } catch (e) {
      this.log.error({ err: e }, 'internal error in IMAP session');
      this.conn.destroy();
    }
  }

  private async step(): Promise<Next> {
    const item = await this.conn.read();
    if (item.type === 'closed') return 'close';
    if (item.type === 'timeout') {
      await this.conn.flush(`${R.idleTimeout}\r\n`);
      return 'close';
    }
    if (item.type === 'error') return this.bad(item.error.tag, item.error.message, item.error.fatal || item.error.code === 'line-too-long');
    if (++this.commands > this.deps.settings.maxPreLoginCommands) {
      await this.conn.flush(`${R.tooManyCommands}\r\n`);
      this.log.info({ commands: this.commands }, 'disconnected: too many commands before login');
      return 'close';
    }
    if (this.commands === 1 && HTTP_REQUEST.test(item.data.toString('latin1'))) {
      // A browser or scanner talking HTTP to the IMAP port: no point answering at length.
      this.log.info('disconnected: HTTP request on the IMAP port');
      return 'close';
    }
    let cmd;
    try {
      cmd = parseCommand(item.data);
    } catch (e) {
      if (e instanceof WireError) return this.bad(e.tag, e.message, false);
      throw e;
    }
    const handler = COMMANDS[cmd.name];
    if (!handler) {
      const known =
        /^(SELECT|EXAMINE|FETCH|LIST|LSUB|STATUS|APPEND|IDLE|ENABLE|UID|SEARCH|CREATE|DELETE|RENAME|SUBSCRIBE|UNSUBSCRIBE|NAMESPACE|EXPUNGE|CLOSE|CHECK|STORE|COPY|MOVE|COMPRESS|GETQUOTA|GETQUOTAROOT)$/.test(
          cmd.name,
        );
      return this.bad(cmd.tag, known ? 'Command not allowed before login.' : 'Unknown command.', false);
    }
    return handler(this, cmd);
  }

  /** Answers BAD; past the budget of bad commands (or on a fatal input error) hangs up. */
  async bad(tag: string | null, text: string, fatal: boolean): Promise<Next> {
    this.badCommands++;
    this.send(`${tag ?? '*'} BAD ${text.replace(/[\r\n]/g, ' ')}`);
    if (fatal || this.badCommands >= this.deps.settings.maxBadCommands) {
      await this.conn.flush(`${fatal ? R.lineTooLong : R.tooManyBad}\r\n`);
      this.log.info({ badCommands: this.badCommands }, 'disconnected: invalid input');
      return 'close';
    }
    return 'continue';
  }

  async startTls(tag: string): Promise<Next> {
    if (!this.starttlsAvailable || !this.deps.tls)
      return this.bad(tag, this.secure ? 'TLS is already active.' : 'STARTTLS not available.', false);
    await this.conn.flush(`${tag} OK Begin TLS negotiation now.\r\n`);
    // upgradeServer discards whatever the client pipelined in clear (STARTTLS injection, CVE-2011-0411 class).
    const ok = await this.conn.upgradeServer(this.deps.tls.context);
    if (!ok) {
      this.log.info('TLS handshake failed');
      return 'close';
    }
    return 'continue';
  }

  /** Reads one line of an AUTHENTICATE exchange; null when the client went away. */
  async readContinuation(): Promise<string | null> {
    this.conn.reader.rawLines = true;
    try {
      const item = await this.conn.read();
      if (item.type === 'line') return item.data.toString('latin1');
      return item.type === 'error' ? '' : null;
    } finally {
      this.conn.reader.rawLines = false;
    }
  }

  private get loginDeps(): LoginDeps {
    return loginDepsOf(this.deps.authenticator, this.deps.settings, this.log);
  }

  /** The common end of LOGIN and AUTHENTICATE: the one login flow (front/login.ts), then splice. */
  async login(tag: string, user: string, secret: string): Promise<Next> {
    const timer = startLoginTimer(this.deps.settings.failureJitterMs);
    const clientId = () => this.clientIdFields;
    const adapter = this.deps.adapter?.(clientId) ?? imapAdapter(this.deps.settings.upstream, this.deps.upstreamInfo, clientId);
    const local = this.conn.socket;
    const r = await loginFlow(this.loginDeps, adapter, {
      protocol: 'imap',
      user,
      secret,
      timer,
      clientName: this.clientName(),
      client: {
        sessionId: this.id,
        remoteIp: this.remoteIp,
        remotePort: this.remotePort,
        localIp: local.localAddress ?? '',
        localPort: local.localPort ?? 0,
      },
    });
    if (r.kind === 'failed') {
      const hint = r.hint && this.deps.settings.refusalHint;
      if (hint) for (const line of needsPasscode(tag, hint.url)) this.send(line);
      else this.send(`${tag} ${R.authFailed}`);
      return 'continue';
    }
    if (r.kind === 'unavailable') {
      this.send(`${tag} ${R.unavailable}`);
      return 'continue';
    }
    const { result } = r.session;
    // The upstream's own answer (its OK carries [CAPABILITY …]) goes back under the client's tag.
    for (const u of result.untagged) this.send(u);
    this.send(`${tag} OK ${result.text}`);
    const client = this.conn.detach();
    const compress = new CompressWatch();
    handOff({
      id: this.id,
      protocol: 'imap',
      remoteIp: this.remoteIp,
      decision: r.decision,
      log: this.log,
      client,
      upstream: adapter.detach(r.session),
      sessions: this.deps.sessions,
      now: this.deps.now,
      // No farewell: when the upstream leaves first, its BYE or the close says enough.
      goodbye: imapGoodbye(compress),
    });
    // Attached after the splice's own reader, so it only looks and never takes bytes from it.
    compress.watch(client.socket, client.rest);
    return 'handoff';
  }

  /** A failed login that never reached the core (PLAIN authzid ≠ authcid), answered like any other. */
  async refuse(tag: string): Promise<Next> {
    await refuseEarly(this.loginDeps, startLoginTimer(this.deps.settings.failureJitterMs));
    this.send(`${tag} ${R.authFailed}`);
    return 'continue';
  }
}

/**
 * The client's last line when mailgate ends a spliced session: an [ALERT] the user sees for a
 * revoked or expired passcode (RFC 9051 §7.1.5, BYE may come at any time). Best effort: the
 * splice does not parse the upstream's stream, so if the upstream was mid-response (inside a
 * FETCH literal) the line lands inside it; the close that follows still ends the session. Never
 * after COMPRESS DEFLATE (compress-watch.ts): there it would be garbage, so the session just closes.
 * Otherwise nothing is added, as before: the upstream's own BYE or the close says enough.
 */
function imapGoodbye(compress: CompressWatch): NonNullable<HandOff['goodbye']> {
  // Made out here, not in the session's login(): kept for the session's life, it must not capture
  // the pre-login session (front/handoff.ts).
  return (reason) => {
    if (compress.seen) return null;
    if (reason === 'revoked') return `${R.passcodeRevoked}\r\n`;
    if (reason === 'expired') return `${R.passcodeExpired}\r\n`;
    return null;
  };
}
