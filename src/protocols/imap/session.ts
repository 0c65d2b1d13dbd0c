/**
 * One client connection before login. Reads commands, dispatches them through the typed
 * registry, and on a successful login hands the connection to the upstream and splices.
 * The session knows the protocol; who may log in is decided by the core's Authenticator.
 */
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { LineConn } from './conn.js';
import { splice } from '../../net/splice.js';
import type { Logger } from '../../net/logger.js';
import type { ServerTls } from '../../net/tls.js';
import type { Authenticator } from '../../core/authenticate.js';
import type { SessionRegistry } from '../../core/sessions.js';
import type { AuthRequest, Decision } from '../../core/types.js';
import type { UpstreamConfig } from '../../config/types.js';
import { preLoginCapabilities } from './capabilities.js';
import { COMMANDS, type Next, type SessionApi } from './commands/index.js';
import { R } from './responses.js';
import { ImapUpstream, type LoginCredentials, type LoginResult } from './upstream.js';
import { UpstreamError } from '../../net/upstream.js';
import { startLoginTimer, type LoginTimer } from '../../net/pacing.js';
import type { UpstreamInfo } from './upstream-info.js';
import { parseCommand, WireError } from './wire.js';

export interface ImapSettings {
  upstream: UpstreamConfig;
  allowPlaintextAuth: boolean;
  /** Delay before answering a failed login (Dovecot's auth_failure_delay is 2 s). */
  failureDelayMs: number;
  /** Random extra delay on every failure answer (net/pacing.ts). */
  failureJitterMs: number;
  idleTimeoutMs: number;
  maxBadCommands: number;
  maxLineBytes: number;
  maxLiteralBytes: number;
  maxPreLoginCommands: number;
}

export interface ImapDeps {
  settings: ImapSettings;
  /** Replaced on reload; read at every STARTTLS. */
  tls: ServerTls | null;
  authenticator: Authenticator;
  sessions: SessionRegistry;
  upstreamInfo: UpstreamInfo;
  log: Logger;
  now: () => number;
}

const ID_MAX_BYTES = 72 * 1024;

const HTTP_REQUEST = /^(GET|POST|HEAD|PUT|DELETE|OPTIONS|CONNECT|PATCH) \S+ HTTP\/\d/;

export class ImapSession implements SessionApi {
  readonly id = randomBytes(8).toString('hex');
  readonly conn: LineConn;
  readonly remoteIp: string;
  readonly remotePort: number;
  private clientIdFields: Array<[string, string]> = [];
  private badCommands = 0;
  private commands = 0;
  private readonly log: Logger;

  constructor(socket: Socket, private readonly deps: ImapDeps, private readonly starttlsListener: boolean) {
    this.remoteIp = (socket.remoteAddress ?? '').replace(/^::ffff:(?=\d+\.)/, '');
    this.remotePort = socket.remotePort ?? 0;
    this.log = deps.log.child({ sid: this.id, ip: this.remoteIp, proto: 'imap' });
    const s = deps.settings;
    this.conn = new LineConn(socket, {
      maxLineBytes: s.maxLineBytes, maxLiteralBytes: s.maxLiteralBytes, maxCommandBytes: s.maxLiteralBytes * 2 + s.maxLineBytes,
      // RFC 2971 allows 30 fields of 1024-octet values in one ID (~32 KiB, double that quoted with
      // escapes); Dovecot answers it, so must we. LOGIN/AUTHENTICATE stay within the strict limits.
      longCommand: { match: /^[^ ]{1,64} ID[ (]/i, maxBytes: Math.max(s.maxLineBytes, ID_MAX_BYTES) },
    },
      (size) => { this.conn.write(`+ Ready for ${size} bytes\r\n`); return true; }, s.idleTimeoutMs);
    socket.setNoDelay(true);
  }

  get secure(): boolean { return this.conn.secure; }
  get plaintextAllowed(): boolean { return this.secure || this.deps.settings.allowPlaintextAuth; }
  get starttlsAvailable(): boolean { return this.starttlsListener && !this.secure && this.deps.tls !== null; }

  send(line: string): void { this.conn.write(`${line}\r\n`); }

  capabilities(): string[] {
    return preLoginCapabilities(this.deps.upstreamInfo.capabilities, { secure: this.secure, starttlsAvailable: this.starttlsAvailable, allowPlaintextAuth: this.deps.settings.allowPlaintextAuth });
  }

  idResponse(): string { return this.deps.upstreamInfo.idResponse; }

  setClientId(fields: Array<[string, string]>): void { this.clientIdFields = fields.slice(0, 30); }

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
    if (item.type === 'timeout') { await this.conn.flush(`${R.idleTimeout}\r\n`); return 'close'; }
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
    try { cmd = parseCommand(item.data); } catch (e) {
      if (e instanceof WireError) return this.bad(e.tag, e.message, false);
      throw e;
    }
    const handler = COMMANDS[cmd.name];
    if (!handler) {
      const known = /^(SELECT|EXAMINE|FETCH|LIST|LSUB|STATUS|APPEND|IDLE|ENABLE|UID|SEARCH|CREATE|DELETE|RENAME|SUBSCRIBE|UNSUBSCRIBE|NAMESPACE|EXPUNGE|CLOSE|CHECK|STORE|COPY|MOVE|COMPRESS|GETQUOTA|GETQUOTAROOT)$/.test(cmd.name);
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
    if (!this.starttlsAvailable || !this.deps.tls) return this.bad(tag, this.secure ? 'TLS is already active.' : 'STARTTLS not available.', false);
    await this.conn.flush(`${tag} OK Begin TLS negotiation now.\r\n`);
    // upgradeServer discards whatever the client pipelined in clear (STARTTLS injection, CVE-2011-0411 class).
    const ok = await this.conn.upgradeServer(this.deps.tls.context);
    if (!ok) { this.log.info('TLS handshake failed'); return 'close'; }
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

  /** The common end of LOGIN and AUTHENTICATE: decide, log in upstream, splice. */
  async login(tag: string, user: string, secret: string): Promise<Next> {
    const timer = startLoginTimer(this.deps.settings.failureJitterMs);
    const req: AuthRequest = { user, secret, protocol: 'imap', remoteIp: this.remoteIp, clientId: this.clientName(), sessionId: this.id };
    let decision: Decision;
    try {
      decision = await this.deps.authenticator.authenticate(req);
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'authentication failed internally (store or hashing)');
      this.send(`${tag} ${R.unavailable}`);
      return 'continue';
    }
    if (decision.kind === 'reject') {
      this.log.info({ user: decision.account, reason: decision.reason, delayMs: decision.delayMs }, 'login rejected');
      return this.fail(tag, timer, decision.delayMs);
    }
    // Upstream, the canonical account logs in, never the name as typed: if the upstream read the typed
    // name as another account than mailgate did, enforcement could be walked around (core/identity.ts).
    const account = decision.account;
    const creds: LoginCredentials = decision.kind === 'accept-passcode' ? { kind: 'master', user: account } : { kind: 'user', user: account, password: secret };
    let up: ImapUpstream | null = null;
    try {
      up = await ImapUpstream.open(this.deps.settings.upstream);
      this.deps.upstreamInfo.learn(up);
      const local = this.conn.socket;
      await up.sendClientInfo({ remoteIp: this.remoteIp, remotePort: this.remotePort, localIp: local.localAddress ?? '', localPort: local.localPort ?? 0, sessionId: this.id, clientId: this.clientIdFields });
      const res = await up.login(creds);
      if (res.status !== 'OK') return await this.upstreamRefused(tag, timer, up, req, decision, res);
      if (decision.kind === 'passthrough') this.deps.authenticator.recordUpstreamResult(req, true);
      for (const u of res.untagged) this.send(u);
      this.send(`${tag} OK ${res.text}`);
      this.handOff(up, decision);
      return 'handoff';
    } catch (e) {
      up?.close();
      const stage = e instanceof UpstreamError ? e.stage : 'internal';
      this.log.error({ stage, err: (e as Error).message, upstream: `${this.deps.settings.upstream.host}:${this.deps.settings.upstream.port}` }, 'upstream unavailable');
      this.send(`${tag} ${R.unavailable}`);
      return 'continue';
    }
  }

  private async upstreamRefused(tag: string, timer: LoginTimer, up: ImapUpstream, req: AuthRequest, decision: Decision, res: LoginResult): Promise<Next> {
    up.close();
    if (decision.kind === 'passthrough') {
      const delayMs = this.deps.authenticator.recordUpstreamResult(req, false);
      this.log.info({ user: decision.account }, 'login rejected by upstream');
      return this.fail(tag, timer, delayMs); // waits only for what is left after the upstream's own delay
    }
    if (res.refusal === 'unknown-user') {
      // The master credentials work but this user does not exist upstream (the adapter words it
      // the same for every family): the normal failure, as for any unknown name.
      this.log.warn({ user: decision.account }, 'upstream refused the master login for this user (unknown account?)');
      return this.fail(tag, timer, this.deps.settings.failureDelayMs);
    }
    this.log.error({ user: decision.account, upstream: up.family, upstreamSaid: res.text.slice(0, 200) }, 'upstream refused the master login: check imap.upstream.auth');
    this.send(`${tag} ${R.unavailable}`);
    return 'continue';
  }

  /** A failed login that never reached the core (PLAIN authzid ≠ authcid), answered like any other. */
  async refuse(tag: string): Promise<Next> {
    return this.fail(tag, startLoginTimer(this.deps.settings.failureJitterMs), this.deps.settings.failureDelayMs);
  }

  /**
   * The one failure answer, due `delayMs` (+ jitter) after the login command arrived whatever
   * the reason (net/pacing.ts); the wait is a timer, so a waiting client costs no CPU.
   */
  private async fail(tag: string, timer: LoginTimer, delayMs: number): Promise<Next> {
    await timer.failureDue(delayMs);
    this.send(`${tag} ${R.authFailed}`);
    return 'continue';
  }

  private handOff(up: ImapUpstream, decision: Exclude<Decision, { kind: 'reject' }>): void {
    const client = this.conn.detach();
    const upstream = up.conn.detach();
    const sp = splice(client.socket, upstream.socket, { toUpstream: client.rest, toClient: upstream.rest });
    const unregister = this.deps.sessions.register({
      id: this.id, account: decision.account, passcodeId: decision.kind === 'accept-passcode' ? decision.passcodeId : null,
      protocol: 'imap', remoteIp: this.remoteIp, since: this.deps.now(), expiresAt: decision.kind === 'accept-passcode' ? decision.expiresAt : null,
      close: (reason) => { this.log.info({ reason }, 'session ended by mailgate'); sp.destroy(); },
    });
    this.log.info({ user: decision.account, via: decision.kind, passcodeId: decision.kind === 'accept-passcode' ? decision.passcodeId : undefined }, 'logged in');
    void sp.done.then((stats) => { unregister(); this.log.info(stats, 'session closed'); });
  }
}
