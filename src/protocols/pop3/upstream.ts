/**
 * The upstream side of a POP3 login: connect (TLS as configured), read the greeting, STLS,
 * forward the real client address with Dovecot's `XCLIENT ADDR= PORT=` (only when the upstream
 * greets mailgate with `[XCLIENT]`, i.e. trusts it through login_trusted_networks), log in on the
 * user's behalf, and hand the socket over for splicing. What the answers mean is adapter.ts's;
 * doctor uses this client directly.
 */
import { LineConn } from '../front/conn.js';
import { PlainLineReader, type LineTooLong } from '../front/lines.js';
import { connectUpstream, upstreamTlsOptions, UpstreamError } from '../../net/upstream.js';
import type { UpstreamConfig } from '../../config/types.js';
import type { ClientInfo } from '../front/types.js';

export type LoginCredentials =
  | { kind: 'master'; user: string } // log in as `user` with the configured master credentials
  | { kind: 'user'; user: string; password: string }; // the client's own credentials (passthrough)

const COMMAND_TIMEOUT_MS = 60_000;
/** The upstream's lines before login (greeting, CAPA, replies): generous, they come from a server we trust. */
const MAX_UPSTREAM_LINE = 64 * 1024;

/** One pre-login POP3 connection to the upstream. */
export class Pop3Upstream {
  greeting = '';
  private constructor(
    readonly conn: LineConn<LineTooLong, PlainLineReader>,
    private readonly cfg: UpstreamConfig,
  ) {}

  /** Connects, reads the greeting and upgrades to TLS when configured. */
  static async open(cfg: UpstreamConfig): Promise<Pop3Upstream> {
    const up = new Pop3Upstream(new LineConn(await connectUpstream(cfg), new PlainLineReader(MAX_UPSTREAM_LINE), COMMAND_TIMEOUT_MS), cfg);
    try {
      up.greeting = await up.readLine(cfg.connectTimeoutMs);
      if (!up.greeting.startsWith('+OK')) throw new UpstreamError(`unexpected upstream greeting: ${up.greeting.slice(0, 200)}`, 'greeting');
      if (cfg.tls === 'starttls') {
        const r = await up.command('STLS');
        if (!r.startsWith('+OK')) throw new UpstreamError(`upstream refused STLS: ${r.slice(0, 200)}`, 'tls');
        try {
          await up.conn.upgradeClient(upstreamTlsOptions(cfg), cfg.connectTimeoutMs);
        } catch (e) {
          throw new UpstreamError(`TLS with the upstream failed: ${(e as Error).message}`, 'tls');
        }
      }
      return up;
    } catch (e) {
      up.close();
      throw e;
    }
  }

  /** The upstream offered Dovecot's XCLIENT to us (it does so only to login_trusted_networks). */
  get offersXclient(): boolean {
    return /^\+OK \[XCLIENT\]/i.test(this.greeting);
  }

  private async readLine(timeoutMs?: number): Promise<string> {
    const item = await this.conn.read(timeoutMs);
    if (item.type === 'line') return item.data.toString('utf8');
    if (item.type === 'error') throw new UpstreamError(`bad data from upstream: ${item.error.message}`, 'protocol');
    throw new UpstreamError(item.type === 'timeout' ? 'upstream timed out' : 'upstream closed the connection', 'protocol');
  }

  /** Sends one line, returns the one-line answer. */
  async command(line: string): Promise<string> {
    this.conn.write(`${line}\r\n`);
    return this.readLine();
  }

  /** The CAPA list (RFC 2449), without "+OK" and "."; empty if the upstream has no CAPA. */
  async capa(): Promise<string[]> {
    if (!(await this.command('CAPA')).startsWith('+OK')) return [];
    const out: string[] = [];
    for (let l = await this.readLine(); l !== '.'; l = await this.readLine()) out.push(l.startsWith('..') ? l.slice(1) : l);
    return out;
  }

  /**
   * The XCLIENT line that forwards the client's address, so Dovecot logs rip= and applies its
   * penalties to the client (trusted upstream that offers it), or null; sent with the login.
   */
  xclientLine(client: Pick<ClientInfo, 'remoteIp' | 'remotePort'>): string | null {
    if (!this.cfg.trusted || !this.offersXclient) return null;
    return `XCLIENT ADDR=${client.remoteIp} PORT=${client.remotePort}`;
  }

  /**
   * Logs in; the upstream's one-line answer (its "+OK …" goes to the client as is). `xclient`
   * (from xclientLine) goes first — in the same write as a one-line AUTH PLAIN: Dovecot reads
   * pre-login commands in order, so the address is set before the login is checked.
   */
  async login(creds: LoginCredentials, saslPlain: boolean, xclient: string | null = null): Promise<string> {
    const auth = this.cfg.auth;
    const oneLine =
      creds.kind === 'user'
        ? saslPlain && `AUTH PLAIN ${plain('', creds.user, creds.password)}`
        : auth.method === 'sasl-proxy' && `AUTH PLAIN ${plain(creds.user, auth.user, auth.password)}`;
    if (oneLine && xclient) {
      this.conn.write(`${xclient}\r\n${oneLine}\r\n`);
      const x = await this.readLine();
      const r = await this.readLine();
      checkXclient(x);
      return r;
    }
    if (xclient) checkXclient(await this.command(xclient));
    if (oneLine) return this.command(oneLine);
    if (creds.kind === 'user') {
      const u = await this.command(`USER ${creds.user}`);
      return u.startsWith('+OK') ? this.command(`PASS ${creds.password}`) : u;
    }
    if (auth.method === 'separator') {
      const u = await this.command(`USER ${creds.user}${auth.separator}${auth.user}`);
      return u.startsWith('+OK') ? this.command(`PASS ${auth.password}`) : u;
    }
    throw new UpstreamError(`upstream auth method ${auth.method} is not usable for POP3`, 'login');
  }

  close(): void {
    this.conn.destroy();
  }
}

function checkXclient(reply: string): void {
  if (!reply.startsWith('+OK')) throw new UpstreamError(`upstream refused XCLIENT: ${reply.slice(0, 200)}`, 'protocol');
}

function plain(authzid: string, authcid: string, password: string): string {
  return Buffer.from(`${authzid}\u0000${authcid}\u0000${password}`, 'utf8').toString('base64');
}
