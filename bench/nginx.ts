/**
 * Optional third path: nginx's mail proxy (Debian nginx-full + libnginx-mod-mail) in front of the
 * same Dovecot, as the yardstick the issue compares with. Its auth_http endpoint is a tiny HTTP
 * server in the bench process that accepts every login and points nginx at Dovecot, which then
 * checks the password itself (nginx sends the client's LOGIN upstream). Skipped when nginx or its
 * mail module is missing.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { DovecotInstance } from '../src/demo/dovecot.js';
import { freePorts, waitForBanner } from '../src/demo/ports.js';
import { onCleanup } from './testbed.js';

const MODULE = '/usr/lib/nginx/modules/ngx_mail_module.so';
const BINARY = '/usr/sbin/nginx';

export interface Nginx {
  pid: number;
  imapPort: number;
  imapsPort: number;
  version: string;
  stop(): Promise<void>;
}

export function nginxMissing(): string | null {
  return existsSync(BINARY) && existsSync(MODULE)
    ? null
    : 'nginx mail proxy not installed (apt-get install -y nginx-full libnginx-mod-mail)';
}

async function authServer(dovecotPort: number): Promise<Server> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'Auth-Status': 'OK', 'Auth-Server': '127.0.0.1', 'Auth-Port': String(dovecotPort) });
    res.end();
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  onCleanup(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return server;
}

/** Starts nginx (2 workers, as `worker_processes auto` on this machine) with plain and TLS IMAP listeners. */
export async function startNginx(dovecot: DovecotInstance, dir: string): Promise<Nginx> {
  const auth = await authServer(dovecot.imapPort);
  const [imapPort, imapsPort] = (await freePorts(2)) as [number, number];
  mkdirSync(join(dir, 'nginx'), { recursive: true });
  const conf = join(dir, 'nginx', 'nginx.conf');
  writeFileSync(
    conf,
    `# bench/nginx.ts
load_module ${MODULE};
daemon off;
worker_processes auto;
worker_rlimit_nofile 20000;
pid ${join(dir, 'nginx', 'nginx.pid')};
error_log ${join(dir, 'nginx', 'error.log')} warn;
events { worker_connections 8000; }
mail {
  server_name localhost;
  auth_http 127.0.0.1:${(auth.address() as AddressInfo).port}/auth;
  auth_http_timeout 30s;
  proxy_pass_error_message on;
  imap_auth login plain;
  imap_capabilities IMAP4rev1 LITERAL+ SASL-IR ID IDLE;
  ssl_certificate ${dovecot.certs.cert};
  ssl_certificate_key ${dovecot.certs.key};
  server { listen 127.0.0.1:${imapPort}; protocol imap; }
  server { listen 127.0.0.1:${imapsPort} ssl; protocol imap; }
}
`,
  );
  const child = spawn(BINARY, ['-c', conf, '-p', join(dir, 'nginx'), '-e', join(dir, 'nginx', 'error.log')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM'); // fast shutdown of master and workers
    const t = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };
  onCleanup(stop);
  try {
    await waitForBanner(imapPort, /^\* OK/, {
      timeoutMs: 10_000,
      abort: () => (child.exitCode !== null ? `nginx exited: ${stderr.trim()}` : null),
    });
  } catch (e) {
    await stop();
    throw e;
  }
  const version = await new Promise<string>((resolve) => {
    const v = spawn(BINARY, ['-v'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let out = '';
    v.stderr?.on('data', (d: Buffer) => {
      out += d.toString();
    });
    v.once('exit', () => resolve(out.trim().replace(/^nginx version: /, '')));
  });
  return { pid: child.pid ?? -1, imapPort, imapsPort, version, stop };
}
