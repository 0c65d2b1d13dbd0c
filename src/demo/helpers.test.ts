/** Unit tests for the testbed helpers that need neither root nor Dovecot/Postfix. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeCerts } from './certs.js';
import { encodeMailboxUtf7 } from './dovecot.js';
import { countLoopbackListeners, freePort, freePorts, isPortOpen, waitForBanner } from './ports.js';

describe('ports', () => {
  it('freePort returns a bindable loopback port; freePorts returns distinct ones', async () => {
    const p = await freePort();
    expect(p).toBeGreaterThan(0);
    const ps = await freePorts(5);
    expect(new Set(ps).size).toBe(5);
    const srv = net.createServer();
    await new Promise<void>((r) => srv.listen(p, '127.0.0.1', r));
    expect(await isPortOpen(p)).toBe(true);
    const n = countLoopbackListeners(p);
    if (n !== null) expect(n).toBe(1);
    await new Promise<void>((r) => srv.close(() => r()));
    expect(await isPortOpen(p)).toBe(false);
  });

  it('waitForBanner reads the greeting and times out with a useful message', async () => {
    const srv = net.createServer((s) => s.end('* OK hello\r\n'));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    await expect(waitForBanner(port, /^\* OK/)).resolves.toBe('* OK hello');
    await expect(waitForBanner(port, /^220 /, { timeoutMs: 300 })).rejects.toThrow(/unexpected greeting/);
    await new Promise<void>((r) => srv.close(() => r()));
  });
});

describe('certs', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mailgate-certs-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a CA and a loopback server cert it signed; reuses them', async () => {
    const c = await makeCerts(dir);
    expect(statSync(c.key).mode & 0o777).toBe(0o600);
    const verify = execFileSync('openssl', ['verify', '-CAfile', c.caCert, c.cert], { encoding: 'utf8' });
    expect(verify).toContain(': OK');
    const text = execFileSync('openssl', ['x509', '-in', c.cert, '-noout', '-text'], { encoding: 'utf8' });
    expect(text).toMatch(/DNS:localhost/);
    expect(text).toMatch(/IP Address:127\.0\.0\.1/);
    expect(text).toMatch(/IP Address:0:0:0:0:0:0:0:1/);
    const mtime = statSync(c.cert).mtimeMs;
    const again = await makeCerts(dir);
    expect(again).toEqual(c);
    expect(statSync(c.cert).mtimeMs).toBe(mtime);
  }, 15_000);
});

describe('encodeMailboxUtf7', () => {
  it('encodes like RFC 3501 modified UTF-7', () => {
    expect(encodeMailboxUtf7('INBOX')).toBe('INBOX');
    expect(encodeMailboxUtf7('Grüße')).toBe('Gr&APwA3w-e');
    expect(encodeMailboxUtf7('A&B')).toBe('A&-B');
    expect(encodeMailboxUtf7('台北')).toBe('&U,BTFw-');
    expect(encodeMailboxUtf7('😀')).toBe('&2D3eAA-');
  });
});
