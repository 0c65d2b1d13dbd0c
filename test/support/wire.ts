/**
 * Minimal line-oriented IMAP/SMTP/POP3 wire clients for tests that need exact control over
 * what is sent (literals, XCLIENT, master-user LOGIN forms).
 */
import net from 'node:net';
import tls from 'node:tls';

export interface WireOptions {
  host?: string;
  port: number;
  /** Implicit TLS. */
  tls?: boolean;
  ca?: string | Buffer;
  timeoutMs?: number;
}

export class WireClient {
  private buf = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  private closed = false;
  private error: Error | null = null;
  readonly transcript: string[] = [];

  private constructor(
    private sock: net.Socket | tls.TLSSocket,
    private readonly timeoutMs: number,
  ) {
    this.attach();
  }

  static connect(opts: WireOptions): Promise<WireClient> {
    const host = opts.host ?? '127.0.0.1';
    const timeoutMs = opts.timeoutMs ?? 8000;
    return new Promise((resolve, reject) => {
      const sock = opts.tls
        ? tls.connect({ host, port: opts.port, ca: opts.ca, servername: 'localhost' })
        : net.connect({ host, port: opts.port });
      const onErr = (e: Error): void => reject(e);
      sock.once('error', onErr);
      sock.once(opts.tls ? 'secureConnect' : 'connect', () => {
        sock.removeListener('error', onErr);
        resolve(new WireClient(sock, timeoutMs));
      });
    });
  }

  private attach(): void {
    this.sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.wake();
    });
    this.sock.on('error', (e) => {
      this.error = e;
      this.wake();
    });
    this.sock.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Next CRLF-terminated line (without the CRLF). */
  async readLine(): Promise<string> {
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      const i = this.buf.indexOf('\r\n');
      if (i >= 0) {
        const line = this.buf.subarray(0, i).toString('utf8');
        this.buf = this.buf.subarray(i + 2);
        this.transcript.push(`S: ${line}`);
        return line;
      }
      if (this.error) throw this.error;
      if (this.closed) throw new Error(`connection closed; transcript:\n${this.transcript.join('\n')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout waiting for a line; transcript:\n${this.transcript.join('\n')}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  write(data: string | Buffer): void {
    this.transcript.push(`C: ${data.toString().replace(/\r\n$/, '')}`);
    this.sock.write(data);
  }

  /** Send an IMAP command line (CRLF appended) and collect lines up to the tagged response. */
  async imap(tag: string, command: string): Promise<{ tagged: string; untagged: string[] }> {
    this.write(`${tag} ${command}\r\n`);
    return this.imapResult(tag);
  }

  async imapResult(tag: string): Promise<{ tagged: string; untagged: string[] }> {
    const untagged: string[] = [];
    for (;;) {
      const line = await this.readLine();
      if (line.startsWith(`${tag} `)) return { tagged: line, untagged };
      untagged.push(line);
    }
  }

  /** Read one (possibly multi-line) SMTP reply. */
  async smtpReply(): Promise<{ code: number; text: string; lines: string[] }> {
    const lines: string[] = [];
    for (;;) {
      const line = await this.readLine();
      lines.push(line);
      if (!/^\d{3}-/.test(line)) return { code: Number(line.slice(0, 3)), text: line, lines };
    }
  }

  async smtp(command: string): Promise<{ code: number; text: string; lines: string[] }> {
    this.write(`${command}\r\n`);
    return this.smtpReply();
  }

  close(): void {
    this.sock.destroy();
  }
}
