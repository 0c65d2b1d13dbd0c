/**
 * The relay of an authenticated session's transactions over its one upstream connection:
 * MAIL/RCPT with their parameters, DATA streamed, RSET between transactions, and the upstream's
 * replies going back as it said them.
 */
import { domainToASCII } from 'node:url';
import type { SMTPServerAddress, SMTPServerDataStream } from 'smtp-server';
import type { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import type { Logger } from '../../net/logger.js';
import { replyText, xtext, type Reply } from './reply.js';
import { R, smtpError, upstreamError, upstreamText, type SmtpReplyText } from './responses.js';
import { SmtpUpstream, UpstreamError } from './upstream.js';

/** Address with its ESMTP parameters, as the client gave them (domains back in A-labels without SMTPUTF8). */
export function formatPath(a: SMTPServerAddress, utf8: boolean): string {
  let address = a.address;
  const at = address.lastIndexOf('@');
  if (at > 0 && !utf8 && /[^\x00-\x7f]/.test(address.slice(at + 1))) {
    // smtp-server turns xn-- domains into Unicode; without SMTPUTF8 they must go out as sent.
    address = `${address.slice(0, at + 1)}${domainToASCII(address.slice(at + 1)) || address.slice(at + 1)}`;
  }
  const params = Object.entries(a.args || {}).map(([k, v]) => (v === true ? k : `${k}=${xtext(v)}`));
  return [`<${address}>`, ...params].join(' ');
}

/** The relay of one authenticated session's transactions to its upstream connection. */
export class Relay {
  private inTransaction = false;
  private inData = false;
  /** The current transaction asked for SMTPUTF8. */
  private utf8 = false;
  messages = 0;
  bytes = 0;

  constructor(readonly up: SmtpUpstream, private readonly log: Logger) {}

  /** Runs one upstream command; maps a dead upstream to the client's 421. */
  private async run(line: string): Promise<Reply> {
    if (!this.up.alive) throw smtpError(R.upstreamLost);
    try {
      return await this.up.command(line);
    } catch {
      throw smtpError(R.upstreamLost); // logged once by the upstream's onLost listener
    }
  }

  async mailFrom(address: SMTPServerAddress): Promise<void> {
    if (this.inTransaction) {
      const r = await this.run('RSET');
      if (r.code === 421) throw upstreamError(r);
      this.inTransaction = false;
    }
    const utf8 = address.args ? address.args.SMTPUTF8 === true : false;
    const r = await this.run(`MAIL FROM:${formatPath(address, utf8)}`);
    if (r.code >= 300) throw upstreamError(r);
    this.inTransaction = true;
    this.utf8 = utf8;
  }

  async rcptTo(address: SMTPServerAddress): Promise<void> {
    const r = await this.run(`RCPT TO:${formatPath(address, this.utf8)}`);
    if (r.code >= 300) throw upstreamError(r);
  }

  /** DATA: the upstream's final reply text on success; throws the client's error otherwise. */
  async data(stream: SMTPServerDataStream): Promise<string> {
    const r = await this.run('DATA');
    if (r.code !== 354) throw upstreamError(r);
    let result;
    this.inData = true;
    try {
      result = await this.up.sendData(stream);
    } catch (e) {
      this.inTransaction = false;
      if (e instanceof UpstreamError) {
        this.log.warn({ err: e.message }, 'SMTP upstream connection lost during DATA');
        throw smtpError(R.upstreamLostInData);
      }
      this.log.info({ err: (e as Error).message }, 'client went away during DATA; upstream connection dropped, nothing queued');
      throw e;
    } finally {
      this.inData = false;
    }
    this.inTransaction = false;
    const { reply, bytes } = result;
    this.log.info({ bytes, upstreamSaid: replyText(reply) }, reply.code < 300 ? 'message relayed' : 'message refused by upstream');
    if (reply.code >= 300) throw upstreamError(reply);
    this.messages++;
    this.bytes += bytes;
    return upstreamText(reply);
  }

  /** Ends the upstream side: QUIT, except mid-DATA, where the connection is dropped (no final dot). */
  close(): void {
    if (this.inData) this.up.destroy();
    else this.up.quit();
  }
}

/** The live client connection, for revocation and shutdown. */
export function endClient(conn: SMTPConnection, reply: SmtpReplyText): void {
  conn.send(reply.code, reply.text); // a 421 makes smtp-server close the connection
  conn.close();
}
