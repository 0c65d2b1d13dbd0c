/**
 * The upstream side of an IMAP session: connect (TLS as configured), read the greeting, STARTTLS,
 * learn capabilities, forward the real client address (ID x-originating-ip, RFC 2971 extension
 * understood by Dovecot from login_trusted_networks), and log in on the user's behalf.
 * Only the pre-login dialogue is parsed; after login the socket is handed over for splicing.
 */
import { LineConn } from '../front/conn.js';
import { connectUpstream, upstreamTlsOptions, UpstreamError } from '../../net/upstream.js';
import { imapString, LineReader, quote, type WireError } from './wire.js';
import type { UpstreamConfig } from '../../config/types.js';
import { detectImapFamily, familyTraits, type ImapFamily } from './family.js';

export { UpstreamError };

export interface ClientInfo {
  remoteIp: string;
  remotePort: number;
  localIp: string;
  localPort: number;
  sessionId: string;
  /** Name/version the client announced with ID, forwarded so upstream logs show them. */
  clientId: Array<[string, string]>;
}

export interface TaggedResult {
  status: 'OK' | 'NO' | 'BAD';
  text: string;
  untagged: string[];
}

/**
 * Why the upstream refused a login, in mailgate's terms (the families word it differently):
 * `credentials` the user's own password (passthrough); `unknown-user` the master login was fine
 * but the user does not exist upstream; `master-refused` the master credentials themselves (or
 * the server's trust in them) are wrong — an admin's problem.
 */
export type Refusal = 'credentials' | 'unknown-user' | 'master-refused';

export interface LoginResult extends TaggedResult {
  refusal?: Refusal;
}

export type LoginCredentials =
  | { kind: 'master'; user: string } // log in as `user` with the configured master credentials
  | { kind: 'user'; user: string; password: string }; // the client's own credentials (passthrough)

const COMMAND_TIMEOUT_MS = 60_000;
const LIMITS = { maxLineBytes: 64 * 1024, maxLiteralBytes: 1024 * 1024, maxCommandBytes: 2 * 1024 * 1024 };

/** Capability atoms from a "[CAPABILITY …]" response code or a "* CAPABILITY …" line. */
export function parseCapabilities(line: string): string[] | null {
  const m = /^\* CAPABILITY (.*)$/i.exec(line) ?? /\[CAPABILITY ([^\]]*)\]/i.exec(line);
  return m?.[1] ? m[1].trim().split(/\s+/) : null;
}

function parseTagged(line: string, untagged: string[]): TaggedResult {
  const m = /^\S+ (OK|NO|BAD)\b ?(.*)$/i.exec(line);
  if (!m) throw new UpstreamError(`unexpected upstream response: ${line.slice(0, 200)}`, 'protocol');
  return { status: m[1]!.toUpperCase() as TaggedResult['status'], text: m[2] ?? '', untagged };
}

export class ImapUpstream {
  capabilities: string[] = [];
  greeting = '';
  /** The upstream's `* ID (…)` answer, once an ID was sent. */
  idLine: string | null = null;
  private seq = 0;

  private constructor(
    readonly conn: LineConn<WireError, LineReader>,
    private readonly cfg: UpstreamConfig,
  ) {}

  /** Connects and gets to the "ready to log in" state. */
  static async open(cfg: UpstreamConfig): Promise<ImapUpstream> {
    const socket = await connectUpstream(cfg);
    // Answers to LOGIN may be slow on purpose (the upstream's auth penalty: Dovecot waits up to
    // 15 s after failures), so only the greeting is held to the connect timeout.
    const up = new ImapUpstream(new LineConn<WireError, LineReader>(socket, new LineReader(LIMITS), COMMAND_TIMEOUT_MS), cfg);
    try {
      await up.readGreeting();
      if (cfg.tls === 'starttls') {
        const r = await up.command('STARTTLS');
        if (r.status !== 'OK') throw new UpstreamError(`upstream refused STARTTLS: ${r.text}`, 'tls');
        try {
          await up.conn.upgradeClient(upstreamTlsOptions(cfg), cfg.connectTimeoutMs);
        } catch (e) {
          throw new UpstreamError(`TLS with the upstream failed: ${(e as Error).message}`, 'tls');
        }
        up.capabilities = [];
      }
      if (up.capabilities.length === 0) await up.refreshCapabilities();
      return up;
    } catch (e) {
      up.close();
      throw e;
    }
  }

  private async readGreeting(): Promise<void> {
    const line = await this.readLine(this.cfg.connectTimeoutMs);
    if (!/^\* OK\b/i.test(line)) throw new UpstreamError(`unexpected upstream greeting: ${line.slice(0, 200)}`, 'greeting');
    this.greeting = line;
    this.capabilities = parseCapabilities(line) ?? [];
  }

  async refreshCapabilities(): Promise<void> {
    const r = await this.command('CAPABILITY');
    for (const u of r.untagged) {
      const c = parseCapabilities(u);
      if (c) this.capabilities = c;
    }
  }

  /** Asks the upstream's ID (if offered and not seen yet), then names its family. */
  async identify(): Promise<ImapFamily> {
    if (this.idLine === null && this.has('ID')) {
      const r = await this.command('ID NIL');
      this.idLine = r.untagged.find((l) => /^\* ID /i.test(l)) ?? null;
    }
    return this.family;
  }

  /** The server family, from the ID answer if one was seen, else the greeting. */
  get family(): ImapFamily {
    return detectImapFamily(this.greeting, this.idLine);
  }

  has(cap: string): boolean {
    return this.capabilities.some((c) => c.toUpperCase() === cap.toUpperCase());
  }

  private async readLine(timeoutMs?: number): Promise<string> {
    const item = await this.conn.read(timeoutMs);
    if (item.type === 'line') return item.data.toString('utf8');
    if (item.type === 'error') throw new UpstreamError(`bad data from upstream: ${item.error.message}`, 'protocol');
    throw new UpstreamError(item.type === 'timeout' ? 'upstream timed out' : 'upstream closed the connection', 'protocol');
  }

  /** Sends one command (parts with literals are sent with sync/non-sync literal handling). */
  /**
   * Sends one command and reads up to its tagged answer. `literals` follow their `{n}`/`{n+}`
   * announcements in `text`; `answer` is the one response to a server challenge ("+ …", e.g. in
   * AUTHENTICATE) — any other challenge is cancelled with "*".
   */
  async command(text: string, literals: Buffer[] = [], answer?: string): Promise<TaggedResult> {
    const tag = `mg${++this.seq}`;
    const segments = text.split(/(?<=\{\d+\+?\})/); // each literal announcement ends a segment
    const untagged: string[] = [];
    if (literals.length === 0) {
      this.conn.write(`${tag} ${text}\r\n`); // one write, one segment: the common case
    } else this.conn.write(`${tag} ${segments[0]}`);
    for (let i = 0; i < literals.length; i++) {
      const nonSync = /\{\d+\+\}$/.test(segments[i] ?? '');
      this.conn.write('\r\n');
      if (!nonSync) {
        // The server may send untagged data (e.g. "* 3 EXISTS") before its "+" (RFC 3501 7.5).
        let cont = await this.readLine();
        while (cont.startsWith('* ')) {
          untagged.push(cont);
          cont = await this.readLine();
        }
        if (!cont.startsWith('+')) return parseTagged(cont, untagged);
      }
      this.conn.write(literals[i]!);
      this.conn.write(segments[i + 1] ?? '');
    }
    if (literals.length > 0) this.conn.write('\r\n');
    return this.readTagged(tag, untagged, answer);
  }

  /**
   * Sends several literal-free commands in one write (one segment, one round trip) and reads their
   * tagged answers in order. RFC 3501 5.5 lets a client pipeline commands whose outcome does not
   * change how the next one is parsed; used for ID + AUTHENTICATE PLAIN with SASL-IR before login.
   */
  async pipeline(texts: string[]): Promise<TaggedResult[]> {
    const tags = texts.map(() => `mg${++this.seq}`);
    this.conn.write(texts.map((t, i) => `${tags[i]} ${t}\r\n`).join(''));
    const out: TaggedResult[] = [];
    for (const tag of tags) out.push(await this.readTagged(tag, []));
    return out;
  }

  /** Reads up to `tag`'s answer; a "+" gets `answer` once (then "*", cancelling the exchange). */
  private async readTagged(tag: string, untagged: string[], answer?: string): Promise<TaggedResult> {
    for (;;) {
      const line = await this.readLine();
      if (line.startsWith(`${tag} `)) return parseTagged(line, untagged);
      if (line.startsWith('+')) {
        this.conn.write(`${answer ?? '*'}\r\n`);
        answer = undefined; // a second challenge is unexpected: cancel it
        continue;
      }
      untagged.push(line);
    }
  }

  /**
   * The ID command with the real client address (only to an upstream that trusts us) plus the
   * client's own ID fields, or null; pipelined with the login.
   */
  clientInfoCommand(info: ClientInfo): string | null {
    const fields: Array<[string, string]> = [...info.clientId.filter(([k]) => !k.toLowerCase().startsWith('x-'))];
    if (this.cfg.trusted) {
      fields.push(
        ['x-originating-ip', info.remoteIp],
        ['x-originating-port', String(info.remotePort)],
        ['x-connected-ip', info.localIp],
        ['x-connected-port', String(info.localPort)],
        ['x-session-ext-id', info.sessionId],
      );
    }
    if (fields.length === 0 || !this.has('ID')) return null;
    return `ID (${fields.map(([k, v]) => `${quote(k)} ${quote(v)}`).join(' ')})`;
  }

  private noteId(r: TaggedResult): void {
    this.idLine = r.untagged.find((l) => /^\* ID /i.test(l)) ?? this.idLine;
  }

  /**
   * Logs in; resolves with the upstream's tagged answer (its OK carries [CAPABILITY …]) and, when
   * it is not OK, why — the same for every server family.
   */
  async login(creds: LoginCredentials, before: string | null = null): Promise<LoginResult> {
    if (creds.kind === 'user') {
      const r = this.has('AUTH=PLAIN')
        ? await this.authenticatePlain('', creds.user, creds.password, before)
        : await this.loginCommand(creds.user, creds.password, before);
      return r.status === 'OK' ? r : { ...r, refusal: 'credentials' };
    }
    const auth = this.cfg.auth;
    let r: TaggedResult;
    if (auth.method === 'separator') r = await this.loginCommand(`${creds.user}${auth.separator}${auth.user}`, auth.password, before);
    else if (auth.method === 'sasl-proxy') r = await this.authenticatePlain(creds.user, auth.user, auth.password, before);
    else throw new UpstreamError(`upstream auth method ${auth.method} is not usable for IMAP`, 'login');
    const traits = familyTraits(this.family);
    if (r.status !== 'OK') return { ...r, refusal: traits.unknownUser?.test(r.text) ? 'unknown-user' : 'master-refused' };
    if (traits.checksTarget || (await this.hasInbox())) return r;
    return { status: 'NO', text: 'no INBOX upstream for this user', untagged: [], refusal: 'unknown-user' };
  }

  /**
   * Does the logged-in user have an INBOX? Cyrus lets a proxy server log in as any name, so this
   * is how a user unknown upstream is told from a real one. Its answer is not the client's: the
   * untagged lines are dropped here, the login's own answer is what the client gets.
   */
  private async hasInbox(): Promise<boolean> {
    const r = await this.command('LIST "" INBOX');
    return r.status === 'OK' && r.untagged.some((l) => /^\* LIST .*\bINBOX"?$/i.test(l));
  }

  /** `before` (an ID command) goes first: in the same write when the login has no literal or challenge. */
  private async authenticatePlain(authzid: string, authcid: string, password: string, before: string | null): Promise<TaggedResult> {
    const ir = Buffer.from(`${authzid}\u0000${authcid}\u0000${password}`, 'utf8').toString('base64');
    if (this.has('SASL-IR')) return this.withBefore(before, `AUTHENTICATE PLAIN ${ir}`);
    if (before) this.noteId(await this.command(before));
    return this.command('AUTHENTICATE PLAIN', [], ir); // no SASL-IR: the response follows the "+"
  }

  private async loginCommand(user: string, password: string, before: string | null): Promise<TaggedResult> {
    const lp = this.has('LITERAL+');
    const u = imapString(user, lp);
    const p = imapString(password, lp);
    const literals = [u.literal, p.literal].filter((x): x is Buffer => x !== null);
    if (literals.length === 0) return this.withBefore(before, `LOGIN ${u.text} ${p.text}`);
    if (before) this.noteId(await this.command(before));
    return this.command(`LOGIN ${u.text} ${p.text}`, literals);
  }

  /** `before` and `text` pipelined in one write (or `text` alone); resolves with `text`'s answer. */
  private async withBefore(before: string | null, text: string): Promise<TaggedResult> {
    if (!before) return this.command(text);
    const [id, r] = await this.pipeline([before, text]);
    this.noteId(id!);
    return r!;
  }

  /**
   * APPENDs one message to `mailbox` (RFC 3501 6.3.11) after a login. A non-synchronising literal
   * (RFC 7888: LITERAL+, or LITERAL- up to 4096 bytes) saves the round trip for the "+".
   */
  append(mailbox: string, message: Buffer): Promise<TaggedResult> {
    const nonSync = this.has('LITERAL+') || (this.has('LITERAL-') && message.length <= 4096);
    return this.command(`APPEND ${quote(mailbox)} {${message.length}${nonSync ? '+' : ''}}`, [message]);
  }

  close(): void {
    this.conn.destroy();
  }
}
