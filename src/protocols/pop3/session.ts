/**
 * One POP3 client connection before login: reads command lines, dispatches them through the
 * typed table, and on a successful login hands the connection to the upstream and splices.
 * Who may log in is decided by the one login flow (front/login.ts); how the upstream is reached,
 * by adapter.ts; registering and splicing, by front/handoff.ts.
 */
import { newSessionId } from '../front/session-id.js';
import type { Socket } from 'node:net';
import type { Authenticator } from '../../core/authenticate.js';
import type { SessionRegistry } from '../../core/sessions.js';
import type { Logger } from '../../runtime/logger.js';
import { startLoginTimer } from '../front/pacing.js';
import type { ServerTls } from '../../net/tls.js';
import { LineConn } from '../front/conn.js';
import { handOff } from '../front/handoff.js';
import { PlainLineReader, type LineTooLong } from '../front/lines.js';
import { loginFlow, refuseEarly, type LoginDeps, loginDepsOf } from '../front/login.js';
import type { Next, RefusalHintSettings, UpstreamAdapter } from '../front/types.js';
import type { Pop3LoggedIn } from './adapter.js';
import { MECHANISMS, preLoginCapabilities } from './capabilities.js';
import { COMMANDS, type SessionApi } from './commands/index.js';
import { needsPasscode, R } from './responses.js';
import { socketPeer, type Peer } from '../../net/proxied.js';

export interface Pop3Settings {
  allowPlaintextAuth: boolean;
  failureDelayMs: number;
  failureJitterMs: number;
  idleTimeoutMs: number;
  maxBadCommands: number;
  maxLineBytes: number;
  maxPreLoginCommands: number;
  /** auth.refusal_hint with portal.public_url (absent: off). */
  refusalHint?: RefusalHintSettings;
}

export interface Pop3Deps {
  settings: Pop3Settings;
  authenticator: Authenticator;
  /** The upstream login (adapter.ts; a fake in tests). */
  adapter: UpstreamAdapter<Pop3LoggedIn>;
  log: Logger;
  /** Replaced on reload; read at every STLS. */
  tls: ServerTls | null;
  sessions: SessionRegistry;
  /** The upstream's pre-login face (CAPA list, greeting text). */
  info: { capabilities: readonly string[]; greetingText: string };
  now: () => number;
}

const HTTP_REQUEST = /^(GET|POST|HEAD|PUT|DELETE|OPTIONS|CONNECT|PATCH) \S+ HTTP\/\d/;

export class Pop3Session implements SessionApi {
  readonly id = newSessionId();
  readonly conn: LineConn<LineTooLong, PlainLineReader>;
  readonly remoteIp: string;
  readonly remotePort: number;
  pendingUser: string | null = null;
  private badCommands = 0;
  private commands = 0;
  private readonly log: Logger;

  constructor(
    socket: Socket,
    private readonly deps: Pop3Deps,
    private readonly starttlsListener: boolean,
    // The client's address: the TCP peer, or what a PROXY header said (front/listener.ts).
    peer: Peer = socketPeer(socket),
  ) {
    this.remoteIp = peer.ip;
    this.remotePort = peer.port;
    this.log = deps.log.child({ sid: this.id, ip: this.remoteIp, proto: 'pop3' });
    const s = deps.settings;
    // POP3 has no literals: a line ending in {5} is just a line (the skeleton's plain CRLF reader).
    this.conn = new LineConn(socket, new PlainLineReader(s.maxLineBytes), s.idleTimeoutMs);
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

  send(line: string): void {
    this.conn.write(`${line}\r\n`);
  }

  capabilities(): string[] {
    return preLoginCapabilities(this.deps.info.capabilities, {
      plaintextAllowed: this.plaintextAllowed,
      starttlsAvailable: this.starttlsAvailable,
    });
  }

  mechanisms(): string[] {
    return this.plaintextAllowed ? [...MECHANISMS] : [];
  }

  /** Runs the pre-login dialogue until QUIT, close, or hand-off to the upstream. */
  async run(): Promise<void> {
    this.log.debug('connected');
    this.send(`+OK ${this.deps.info.greetingText}`);
    try {
      for (;;) {
        const next = await this.step();
        if (next === 'continue') continue;
        if (next === 'close') this.conn.close();
        return;
      }
    } catch (e) {
      this.log.error({ err: e }, 'internal error in POP3 session');
      this.conn.destroy();
    }
  }

  private async step(): Promise<Next> {
    const item = await this.conn.read();
    if (item.type === 'closed') return 'close';
    if (item.type === 'timeout') return this.quit(R.idleTimeout);
    if (item.type === 'error') return this.bad(R.lineTooLong, true);
    if (++this.commands > this.deps.settings.maxPreLoginCommands) {
      this.log.info({ commands: this.commands }, 'disconnected: too many commands before login');
      return this.quit(R.tooManyCommands);
    }
    // Never logged: USER/PASS/AUTH lines carry names and secrets.
    const line = item.data.toString('utf8');
    if (this.commands === 1 && HTTP_REQUEST.test(line)) {
      this.log.info('disconnected: HTTP request on the POP3 port');
      return 'close';
    }
    const sp = line.indexOf(' ');
    const name = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
    const handler = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
    if (!handler) return this.bad(R.unknownCommand);
    return handler(this, { name, rest: sp < 0 ? '' : line.slice(sp + 1) });
  }

  async bad(reply: string, fatal = false): Promise<Next> {
    this.badCommands++;
    if (fatal || this.badCommands >= this.deps.settings.maxBadCommands) {
      this.log.info({ badCommands: this.badCommands }, 'disconnected: invalid input');
      return this.quit(fatal ? reply : `${reply}\r\n${R.tooManyBad}`);
    }
    this.send(reply);
    return 'continue';
  }

  async quit(reply: string): Promise<Next> {
    // Flushed before closing: over TLS a destroy right after a write loses the last line.
    await this.conn.flush(`${reply}\r\n`);
    return 'close';
  }

  async startTls(): Promise<Next> {
    if (this.secure) {
      this.send(R.tlsActive);
      return 'continue';
    }
    if (!this.starttlsAvailable || !this.deps.tls) return this.bad(R.tlsUnavailable);
    await this.conn.flush(`${R.stlsBegin}\r\n`);
    // upgradeServer discards whatever the client pipelined in clear (STARTTLS injection, CVE-2011-0411 class).
    const ok = await this.conn.upgradeServer(this.deps.tls.context);
    if (!ok) {
      this.log.info('TLS handshake failed');
      return 'close';
    }
    this.pendingUser = null; // a USER given in clear does not carry over into TLS
    return 'continue';
  }

  async readContinuation(): Promise<string | null> {
    const item = await this.conn.read();
    if (item.type === 'line') return item.data.toString('latin1');
    return item.type === 'error' ? '' : null;
  }

  private get loginDeps(): LoginDeps {
    return loginDepsOf(this.deps.authenticator, this.deps.settings, this.log);
  }

  async login(user: string, secret: string): Promise<Next> {
    // Timed from when the last line of the login arrived (PASS, or AUTH's last response).
    const timer = startLoginTimer(this.deps.settings.failureJitterMs);
    const { adapter } = this.deps;
    const local = this.conn.socket;
    const r = await loginFlow(this.loginDeps, adapter, {
      protocol: 'pop3',
      user,
      secret,
      timer,
      clientName: null,
      client: {
        sessionId: this.id,
        remoteIp: this.remoteIp,
        remotePort: this.remotePort,
        localIp: local.localAddress ?? '',
        localPort: local.localPort ?? 0,
      },
    });
    if (r.kind !== 'ok') {
      const hint = r.kind === 'failed' && r.hint && this.deps.settings.refusalHint;
      this.send(hint ? needsPasscode(hint.url) : r.kind === 'failed' ? R.authFailed : R.unavailable);
      return 'continue';
    }
    if (this.conn.closed) {
      adapter.close(r.session);
      return 'close';
    }
    // The upstream's own "+OK …" goes to the client, queued before the splice so the upstream's
    // answers to pipelined commands (RFC 2449 PIPELINING) follow it.
    this.send(r.session.reply);
    handOff({
      id: this.id,
      protocol: 'pop3',
      remoteIp: this.remoteIp,
      decision: r.decision,
      log: this.log.child({ user: r.decision.account }),
      client: this.conn.detach(),
      upstream: adapter.detach(r.session),
      sessions: this.deps.sessions,
      now: this.deps.now,
    });
    return 'handoff';
  }

  async refuse(): Promise<Next> {
    await refuseEarly(this.loginDeps, startLoginTimer(this.deps.settings.failureJitterMs));
    this.send(R.authFailed);
    return 'continue';
  }
}
