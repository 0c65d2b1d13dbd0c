/**
 * A private HAProxy for the tests (several mailgate instances behind one load balancer), started
 * like the other testbed servers: its own config in a temp dir, loopback ports, foreground (-db)
 * as our child, killed when the test process exits. TCP mode with send-proxy-v2 as in
 * deploy/haproxy.cfg; health checks on mailgate's /readyz.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findExecutable } from './interop.js';
import { freePorts, isPortOpen } from './ports.js';
import { killQuietly, registerExitCleanup, unregisterExitCleanup } from './processes.js';

export interface HaproxyServer {
  name: string;
  port: number;
  /** Port of the instance's metrics listener: checked with GET /readyz. null: TCP connect check. */
  checkPort: number | null;
}

export interface HaproxyFrontend {
  name: string;
  servers: HaproxyServer[];
  /** Send a PROXY v2 header to the servers (mailgate's proxy_protocol listeners). */
  sendProxy: boolean;
}

export interface HaproxyInstance {
  /** Frontend name → its loopback port. */
  ports: Record<string, number>;
  /** HAProxy's own log (stderr: starts, server state changes, one line per connection). */
  log(): string;
  /** SIGTERM, wait for the exit, remove the temp dir. Idempotent. */
  stop(): Promise<void>;
}

/** The haproxy binary, or null. */
export function haproxyBinary(): string | null {
  return findExecutable('haproxy', ['/usr/sbin/haproxy']);
}

/** Health checks fast enough for a test to see an instance go down and come back in seconds. */
function config(frontends: HaproxyFrontend[], ports: number[]): string {
  const lines = [
    'global',
    '  log stderr format short local0 info',
    '  maxconn 2000',
    'defaults',
    '  mode tcp',
    '  log global',
    '  option tcplog',
    '  timeout connect 2s',
    '  timeout client 120s',
    '  timeout server 120s',
    // A connection to a dead instance is retried on another one (kill -9 before a check noticed).
    '  retries 3',
    '  option redispatch 1',
  ];
  frontends.forEach((f, i) => {
    lines.push(`frontend ${f.name}`, `  bind 127.0.0.1:${ports[i]}`, `  default_backend ${f.name}`);
    lines.push(`backend ${f.name}`, '  balance roundrobin');
    const http = f.servers.some((s) => s.checkPort !== null);
    if (http) lines.push('  option httpchk GET /readyz', '  http-check expect status 200');
    for (const s of f.servers) {
      // A TCP check of a PROXY listener sends a header too (check-send-proxy), else every check
      // would be logged by mailgate as a connection without one.
      const check = s.checkPort !== null ? `check port ${s.checkPort}` : `check${f.sendProxy ? ' check-send-proxy' : ''}`;
      lines.push(`  server ${s.name} 127.0.0.1:${s.port} ${check} inter 300ms fall 2 rise 2${f.sendProxy ? ' send-proxy-v2' : ''}`);
    }
  });
  return `${lines.join('\n')}\n`;
}

/** Starts HAProxy with these frontends on free loopback ports; resolves once every one accepts. */
export async function startHaproxy(frontends: HaproxyFrontend[]): Promise<HaproxyInstance> {
  const bin = haproxyBinary();
  if (!bin) throw new Error('haproxy is not installed (apt-get install -y haproxy)');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailgate-haproxy-'));
  const ports = await freePorts(frontends.length);
  const file = path.join(dir, 'haproxy.cfg');
  writeFileSync(file, config(frontends, ports));
  const proc = spawn(bin, ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d) => (out += String(d)));
  proc.stderr!.on('data', (d) => (out += String(d)));
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const cleanup = registerExitCleanup(() => killQuietly(proc.pid!, 'SIGKILL'));
  let stopped: Promise<void> | null = null;
  const instance: HaproxyInstance = {
    ports: Object.fromEntries(frontends.map((f, i) => [f.name, ports[i]!])),
    log: () => out,
    stop() {
      stopped ??= (async () => {
        killQuietly(proc.pid!, 'SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
        killQuietly(proc.pid!, 'SIGKILL');
        unregisterExitCleanup(cleanup);
        if (process.env.MAILGATE_KEEP_TESTBED !== '1') rmSync(dir, { recursive: true, force: true });
      })();
      return stopped;
    },
  };
  const deadline = Date.now() + 10_000;
  for (const port of ports) {
    while (!(await isPortOpen(port))) {
      if (proc.exitCode !== null || Date.now() > deadline) {
        await instance.stop();
        throw new Error(`haproxy did not start (exit ${proc.exitCode}):\n${out}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return instance;
}
