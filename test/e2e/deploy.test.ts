/**
 * deploy/: what README's "Running several instances" tells an admin to start must at least be
 * valid. The mailgate config loads against the schema; HAProxy accepts its config (`haproxy -c`,
 * with a real certificate in place of the portal's); the compose file parses and wires what the
 * other two expect. (`docker compose config` would be better; this machine has no compose plugin.)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { makeCerts } from '../../src/demo/certs.js';
import { haproxyBinary } from '../../src/demo/haproxy.js';
import { REQUIRE_INTEROP } from '../support/interop.js';

const DEPLOY = join(import.meta.dirname, '../../deploy');
const HAPROXY_IP = '172.30.0.10';

describe('deploy/ (several instances behind HAProxy)', () => {
  it('mailgate.yaml loads; every listener takes PROXY headers from HAProxy only', () => {
    const c = loadConfig(join(DEPLOY, 'mailgate.yaml'), { MAILGATE_MASTER_PASSWORD: 'x', MAILGATE_DATABASE_URL: 'postgres://h/db' });
    const listeners = [...c.imap!.listen, ...c.smtp!.listen, ...c.pop3!.listen, c.portal!.listen];
    expect(listeners).toHaveLength(7);
    for (const l of listeners) expect(l.proxyFrom).toEqual([`${HAPROXY_IP}/32`]);
    expect(c.store.postgres).not.toBeNull();
    expect(c.metrics?.listen.port).toBe(9187);
  });

  const bin = haproxyBinary();
  it.skipIf(!bin && !REQUIRE_INTEROP)('haproxy -c accepts haproxy.cfg; backends point at the listeners of mailgate.yaml', async () => {
    if (!bin) throw new Error('haproxy not installed (apt-get install -y haproxy); MAILGATE_REQUIRE_INTEROP=1 makes this a failure');
    const dir = mkdtempSync(join(tmpdir(), 'mailgate-deploy-'));
    const certs = await makeCerts(dir);
    const pem = join(dir, 'portal.pem');
    writeFileSync(pem, readFileSync(certs.cert, 'utf8') + readFileSync(certs.key, 'utf8'));
    const text = readFileSync(join(DEPLOY, 'haproxy.cfg'), 'utf8');
    expect(text).toContain('/usr/local/etc/haproxy/certs/portal.pem');
    const cfg = join(dir, 'haproxy.cfg');
    writeFileSync(cfg, text.replace('/usr/local/etc/haproxy/certs/portal.pem', pem));
    // Container names do not resolve here: warnings, not errors (init-addr none).
    const out = execFileSync(bin, ['-c', '-f', cfg], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(out).toMatch(/Configuration file is valid/);
    expect(text).toMatch(/default-server check port 9187 .*send-proxy-v2/);
    expect(text).toMatch(/option httpchk GET \/readyz/);
    const c = loadConfig(join(DEPLOY, 'mailgate.yaml'), { MAILGATE_MASTER_PASSWORD: 'x', MAILGATE_DATABASE_URL: 'postgres://h/db' });
    const ports = [...c.imap!.listen, ...c.smtp!.listen, ...c.pop3!.listen, c.portal!.listen].map((l) => l.port);
    for (const p of ports) for (const host of ['mailgate-a', 'mailgate-b']) expect(text).toContain(`${host}:${p}`);
  });

  it('compose.yaml: two instances, PostgreSQL, Redis, HAProxy at the proxy_from address, one shared data volume', () => {
    const doc = parse(readFileSync(join(DEPLOY, 'compose.yaml'), 'utf8'), { merge: true }) as {
      services: Record<string, { volumes?: string[]; networks?: unknown; environment?: Record<string, string>; command?: string[] }>;
      networks: { mailgate: { ipam: { config: Array<{ subnet: string }> } } };
    };
    expect(Object.keys(doc.services).sort()).toEqual(['haproxy', 'mailgate-a', 'mailgate-b', 'postgres', 'redis']);
    for (const name of ['mailgate-a', 'mailgate-b']) {
      const s = doc.services[name]!;
      expect(s.volumes).toEqual(expect.arrayContaining(['./mailgate.yaml:/config/mailgate.yaml:ro', 'mailgate-data:/data']));
      expect(s.command).toEqual(['serve', '--no-migrate']);
      expect(s.environment?.MAILGATE_DATABASE_URL).toMatch(/^postgres:\/\/mailgate:.*@postgres:5432\/mailgate$/);
    }
    expect(doc.services.haproxy!.networks).toEqual({ mailgate: { ipv4_address: HAPROXY_IP } });
    expect(doc.services.haproxy!.volumes).toContain('./haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro');
    expect(doc.networks.mailgate.ipam.config[0]!.subnet).toBe('172.30.0.0/24');
  });
});
