/**
 * Data safety: SIGKILL during a burst of passcode creations and revocations. Afterwards the
 * database opens cleanly, every passcode that was printed works, every confirmed revocation holds.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { loadConfig } from '../../src/config/load.js';
import { openCore } from '../../src/main.js';
import { createAuthenticator } from '../../src/core/authenticate.js';
import { NetworkSet } from '../../src/core/enforcement.js';
import { AuthGuard, DEFAULT_GUARD } from '../../src/core/guard.js';
import { localGuard } from '../../src/core/guard-port.js';

describe('crash safety of the store', () => {
  it('keeps every printed passcode and every confirmed revocation across a SIGKILL', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mailgate-crash-'));
    const configFile = join(dir, 'mailgate.yaml');
    writeFileSync(
      configFile,
      stringify({
        store: { sqlite: join(dir, 'mailgate.db') },
        secret_file: join(dir, 'secret.key'),
        imap: {
          listen: [{ port: 0, tls: 'none' }],
          upstream: { port: 1, tls: 'none', auth: { method: 'sasl-proxy', user: 'm', password: 'p' } },
        },
        policy: { enforce: 'all' },
        auth: { bcrypt_cost: 4 },
      }),
    );
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, '../support/burst.ts'), configFile], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += String(d);
    });
    // Kill it in the middle of the burst, once it is well under way.
    await new Promise<void>((resolve) => {
      const t = setInterval(() => {
        if (out.split('\n').length > 150) {
          clearInterval(t);
          resolve();
        }
      }, 5);
    });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));

    const lines = out
      .split('\n')
      .filter((l) => l.endsWith('}'))
      .map((l) => JSON.parse(l) as { created?: string; user?: string; passcode?: string; revoked?: string });
    const created = lines.filter((l) => l.created);
    const revoked = new Set(lines.filter((l) => l.revoked).map((l) => l.revoked));
    expect(created.length).toBeGreaterThan(100);
    expect(revoked.size).toBeGreaterThan(30);

    const db = new Database(join(dir, 'mailgate.db'));
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();
    const core = await openCore(loadConfig(configFile), { hashWorkers: 2 });
    try {
      const auth = createAuthenticator({
        identity: core.identity,
        store: core.store,
        hasher: core.hasher,
        keys: core.keys,
        policy: { enforce: 'all' },
        exempt: new NetworkSet([]),
        cache: core.cache,
        clock: core.clock,
        guard: localGuard(new AuthGuard(core.clock, { ...DEFAULT_GUARD, blockAfter: 1e6, accountCeiling: 1e6 })),
      });
      for (const c of created) {
        const d = await auth.authenticate({ user: c.user!, secret: c.passcode!, protocol: 'imap', remoteIp: '192.0.2.1' });
        expect({ id: c.created, decision: d.kind === 'reject' ? d.reason : d.kind }).toEqual({
          id: c.created,
          decision: revoked.has(c.created) ? 'revoked' : 'accept-passcode',
        });
      }
    } finally {
      await core.close();
    }
  }, 60_000);
});
