/**
 * Reference path for the logins phase: the least any Node IMAP login proxy must do, in its own
 * process like the gate, so mailgate's own cost per login can be told apart from the runtime's.
 *
 * It checks NOTHING about the password: every `LOGIN user pass` is passed on as a Dovecot
 * master-user login for `user`, whatever `pass` is. That is the point (the floor is the proxying,
 * not the policy) and why it only ever listens on 127.0.0.1 and only the bench starts it.
 *
 * Per login, as mailgate does it (src/protocols/imap/upstream.ts): a fixed greeting; the client's
 * `tag LOGIN user pass` (atoms or quoted strings; anything else gets BAD); a plain TCP connection
 * upstream (TCP_NODELAY set once, at connect); its greeting; ONE write of the pipelined
 * `ID (x-originating-ip … x-session-ext-id …)` + `AUTHENTICATE PLAIN <SASL-IR user\0master\0pw>`
 * (the same Dovecot work as mailgate's login: the upstream must offer SASL-IR, Dovecot does);
 * the upstream's tagged OK under the client's tag; then a splice both ways. No policy, store,
 * bcrypt or logging.
 *
 *   LOGIN_FLOOR_MASTER_PASS=… node --import tsx bench/login-floor.ts UPSTREAM_PORT MASTER_USER
 *     [--cert CERT --key KEY] [--splice data|pipe]
 *   → prints { pid, port, tlsPort } once listening: a plain listener, and an implicit-TLS one with
 *   --cert/--key (else tlsPort is null). The master
 *   password comes from the environment, not argv (argv is visible to every user in `ps`).
 * Control lines on stdin, each answered with one JSON line: prof-start, prof-stop FILE,
 * io-start, io-stop (as gate-process.ts). The end of stdin (the bench went away) exits.
 */
import { readFileSync } from 'node:fs';
import net, { type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import tls from 'node:tls';
import { parseArgs } from 'node:util';
import { quote } from '../src/protocols/imap/wire.js'; // the same quoting as mailgate's ID

const { values: opt, positionals } = parseArgs({
  allowPositionals: true,
  options: { cert: { type: 'string' }, key: { type: 'string' }, splice: { type: 'string', default: 'data' } },
});
const upstreamPort = Number(positionals[0]);
const masterUser = positionals[1] ?? '';
const masterPass = process.env.LOGIN_FLOOR_MASTER_PASS ?? '';
const tlsFiles = opt.cert && opt.key ? { cert: opt.cert, key: opt.key } : null;
if (!upstreamPort || !masterUser || !masterPass || Boolean(opt.cert) !== Boolean(opt.key)) {
  process.stderr.write(
    'usage: LOGIN_FLOOR_MASTER_PASS=… login-floor.ts UPSTREAM_PORT MASTER_USER [--cert C --key K] [--splice data|pipe]\n',
  );
  process.exit(2);
}
const splice = opt.splice === 'pipe' ? pipeBoth : relayBoth;

const GREETING = Buffer.from('* OK [CAPABILITY IMAP4rev1 ID IDLE] login floor ready\r\n');
const MAX_LINE = 8192;
const MAX_BUFFERED = 1 << 20;
// tag SP LOGIN SP astring SP astring, each astring an atom or a quoted string (no literals).
const ASTRING = String.raw`("(?:[^"\\\r\n]|\\["\\])*"|[^\s(){%*"\\\]]+)`;
const LOGIN_RE = new RegExp(String.raw`^([^\s(){%*"\\+\]]+) LOGIN ${ASTRING} ${ASTRING}$`, 'i');
const unquote = (s: string): string => (s.startsWith('"') ? s.slice(1, -1).replace(/\\(["\\])/g, '$1') : s);
let sessions = 0;

/** One client from accept to splice: a small state machine on latin1 strings (bytes kept as they came). */
function onClient(client: Socket): void {
  let buf = ''; // client bytes not yet consumed (pipelined commands wait here until the splice)
  let upstream: Socket | null = null;
  let busy = false; // a LOGIN is upstream: later lines wait
  const drop = (): void => {
    client.destroy();
    upstream?.destroy();
  };
  client.on('error', drop);
  client.on('close', drop);
  const onData = (d: Buffer): void => {
    buf += d.toString('latin1');
    if (buf.length > MAX_BUFFERED)
      drop(); // a client flooding while its LOGIN is upstream
    else if (!busy) next();
  };
  // A loop, not recursion: one chunk may hold thousands of lines to refuse.
  const next = (): void => {
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl).replace(/\r$/, '');
      buf = buf.slice(nl + 1);
      const m = LOGIN_RE.exec(line);
      if (m) {
        busy = true;
        login(m[1]!, unquote(m[2]!));
        return;
      }
      const tag = /^[^\s(){%*"\\+\]]+/.exec(line)?.[0] ?? '*';
      client.write(`${tag} BAD only LOGIN with atoms or quoted strings here\r\n`, 'latin1');
    }
    if (buf.length > MAX_LINE) {
      client.end('* BYE line too long\r\n');
      buf = '';
    }
  };
  const login = (tag: string, user: string): void => {
    const up = net.connect({ host: '127.0.0.1', port: upstreamPort, noDelay: true });
    upstream = up;
    let ubuf = '';
    let phase: 'greeting' | 'id' | 'auth' = 'greeting';
    const refuse = (text: string): void => {
      if (client.destroyed) return;
      up.removeAllListeners('close');
      up.destroy();
      upstream = null;
      busy = false;
      client.write(`${tag} ${text}\r\n`, 'latin1');
      next();
    };
    up.on('error', drop);
    up.on('close', () => refuse('NO [UNAVAILABLE] upstream closed'));
    const onUp = (d: Buffer): void => {
      ubuf += d.toString('latin1');
      for (let nl = ubuf.indexOf('\n'); nl >= 0; nl = ubuf.indexOf('\n')) {
        const l = ubuf.slice(0, nl + 1);
        ubuf = ubuf.slice(nl + 1);
        if (phase === 'greeting') {
          if (!l.startsWith('* OK')) {
            refuse('NO [UNAVAILABLE] unexpected upstream greeting');
            return;
          }
          up.write(authCommands(client, user));
          phase = 'id';
        } else if (phase === 'id') {
          if (l.startsWith('f1 ')) phase = 'auth'; // the ID's answer (* ID …, f1 OK) is not the client's
        } else if (!l.startsWith('f2 ')) {
          client.write(l, 'latin1'); // untagged lines of the login's answer go to the client, as mailgate does
        } else if (!l.startsWith('f2 OK')) {
          refuse('NO [AUTHENTICATIONFAILED] Authentication failed.');
          return;
        } else {
          up.removeListener('data', onUp);
          client.removeListener('data', onData);
          up.removeAllListeners('close');
          client.removeListener('close', drop);
          client.write(`${tag}${l.slice(2)}${ubuf}`, 'latin1');
          if (buf) up.write(buf, 'latin1');
          splice(client, up);
          return;
        }
      }
    };
    up.on('data', onUp);
  };
  client.on('data', onData);
  client.write(GREETING);
}

/** The pipelined ID + AUTHENTICATE PLAIN (SASL-IR), byte for byte the form mailgate sends. */
function authCommands(client: Socket, user: string): string {
  const id = (++sessions).toString(16).padStart(16, '0'); // unique per session, like mailgate's 16 hex digits
  const fields = [
    ['x-originating-ip', client.remoteAddress ?? ''],
    ['x-originating-port', String(client.remotePort ?? 0)],
    ['x-connected-ip', client.localAddress ?? ''],
    ['x-connected-port', String(client.localPort ?? 0)],
    ['x-session-ext-id', id],
  ];
  const ir = Buffer.from(`${user}\u0000${masterUser}\u0000${masterPass}`, 'latin1').toString('base64');
  return `f1 ID (${fields.map(([k, v]) => `${quote(k!)} ${quote(v!)}`).join(' ')})\r\nf2 AUTHENTICATE PLAIN ${ir}\r\n`;
}

/**
 * Splice with on('data') → write, pausing the reader while the writer is full. An 'end' ends the
 * other side after its queued bytes (the upstream's BYE and LOGOUT answer reach the client); an
 * error, or a close before any 'end', drops both.
 */
function relayBoth(a: Socket, b: Socket): void {
  for (const [from, to] of [
    [a, b],
    [b, a],
  ] as const) {
    from.on('data', (d: Buffer) => {
      if (!to.write(d)) from.pause();
    });
    to.on('drain', () => from.resume());
    from.on('end', () => {
      if (!to.writableEnded) to.end(); // ended already: its own peer's FIN came first (end() again builds an error)
    });
  }
  closeTogether(a, b);
}

/** Splice with stream.pipe both ways (it ends the destination when the source ends). */
function pipeBoth(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
  closeTogether(a, b);
}

function closeTogether(a: Socket, b: Socket): void {
  const drop = (): void => {
    a.destroy();
    b.destroy();
  };
  for (const [s, other] of [
    [a, b],
    [b, a],
  ] as const) {
    s.on('error', drop);
    s.on('close', () => {
      if (!other.writableEnded) other.destroy(); // ended ones close when their peer answers the FIN
    });
  }
}

const listening: Array<Promise<number>> = [];
const listen = (server: net.Server): Promise<number> =>
  new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
listening.push(listen(net.createServer({ noDelay: true }, onClient)));
if (tlsFiles) {
  const options = { cert: readFileSync(tlsFiles.cert), key: readFileSync(tlsFiles.key), minVersion: 'TLSv1.2' as const, noDelay: true };
  listening.push(listen(tls.createServer(options, onClient)));
}
const [port, tlsPort] = await Promise.all(listening);
process.stdout.write(`${JSON.stringify({ pid: process.pid, port, tlsPort: tlsPort ?? null })}\n`);

// The bench's control channel; the profiler and the I/O counters load only when asked for.
const reply = (o: unknown): void => void process.stdout.write(`${JSON.stringify(o)}\n`);
let inspector: import('node:inspector').Session | null = null;
const post = <T>(method: string): Promise<T> =>
  new Promise((resolve, reject) => inspector!.post(method, {}, (err, res) => (err ? reject(err) : resolve(res as T))));
async function control(line: string): Promise<unknown> {
  const [cmd, arg] = line.trim().split(/\s+/, 2);
  if (cmd === 'prof-start') {
    inspector = new (await import('node:inspector')).Session();
    inspector.connect();
    await post('Profiler.enable');
    await post('Profiler.start');
    return { ok: true };
  }
  if (cmd === 'prof-stop' && inspector && arg) {
    const { profile } = await post<{ profile: unknown }>('Profiler.stop');
    (await import('node:fs')).writeFileSync(arg, JSON.stringify(profile));
    inspector.disconnect();
    inspector = null;
    return { ok: true, file: arg };
  }
  if (cmd === 'io-start') {
    (await import('./io-count.js')).startCounting();
    return { ok: true };
  }
  if (cmd === 'io-stop') return { ok: true, ...(await import('./io-count.js')).stopCounting() };
  return { ok: false, error: `unknown command ${cmd ?? ''}` };
}
const rl = createInterface({ input: process.stdin });
rl.on('line', (l) => void control(l).then(reply, (e: Error) => reply({ ok: false, error: e.message })));
rl.on('close', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
