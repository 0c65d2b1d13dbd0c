import { describe, expect, it } from 'vitest';
import { buildConfig } from '../config/load.js';
import { restartDelayMs } from './cluster.js';
import { workerConfig } from './cluster-worker.js';

const doc = (extra: Record<string, unknown> = {}) => ({
  imap: {
    listen: [{ port: 1143 }],
    upstream: { host: '127.0.0.1', port: 143, auth: { method: 'sasl-proxy', user: 'm', password_env: 'MP' } },
  },
  tls: { cert: 'c.pem', key: 'k.pem' },
  ...extra,
});

describe('cluster supervisor and worker shares', () => {
  it('replaces a long-lived worker at once and one that keeps dying at start ever more slowly, up to 30 s', () => {
    expect([0, 1, 2, 3, 4, 6, 7, 20].map(restartDelayMs)).toEqual([0, 500, 1000, 2000, 4000, 16000, 30000, 30000]);
  });

  it('shares max_connections, the per-address pre-login cap and, when unset, the bcrypt threads between the workers', () => {
    const c = buildConfig(doc({ limits: { workers: 4, max_connections: 20_001, max_prelogin_per_ip: 30 } }), null, { MP: 'x' });
    expect(c.limits.workers).toBe(4);
    const w = workerConfig(c, 4, 16);
    expect(w.limits.maxConnections).toBe(5_001);
    expect(w.limits.maxPreLoginPerIp).toBe(8); // one address round-robined over 4 workers: 32 at most, not 120
    expect(w.auth.hashWorkers).toBe(3); // floor((16 - 1) / 4)
    expect(workerConfig(c, 4, 2).auth.hashWorkers).toBe(1); // never 0
    const set = buildConfig(doc({ auth: { hash_workers: 6 } }), null, { MP: 'x' });
    expect(workerConfig(set, 4, 16).auth.hashWorkers).toBe(6); // an admin's own number stands
    expect(buildConfig(doc(), null, { MP: 'x' }).limits.workers).toBe(1);
  });
});
