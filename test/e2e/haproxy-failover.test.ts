/**
 * One of two instances behind HAProxy dies (kill -9) with sessions on it: those clients lose
 * their connection, reconnect through HAProxy, land on the other instance and work; the other
 * instance's sessions never notice. Instance A is `mailgate serve` in its own process (so it can
 * be killed), B runs in the test process; both share one PostgreSQL store and the secret file.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';
import { startHaproxy, type HaproxyInstance } from '../../src/demo/haproxy.js';
import { freePorts } from '../../src/demo/ports.js';
import { startPostgres, type PostgresInstance } from '../../src/demo/postgres.js';
import { gateConfigDoc, startGate, type Gate } from '../support/gate.js';
import { describeInterop } from '../support/interop.js';
import { RawClient } from '../support/raw.js';
import { spawnServe, type ServeProcess } from '../support/serve-process.js';
import { waitUntil } from './haproxy-support.js';

const ALICE = 'alice@example.com';

describeInterop('kill -9 of one instance behind HAProxy', ['dovecot', 'postgres', 'haproxy'], () => {
  let dovecot: DovecotInstance;
  let pgServer: PostgresInstance;
  let b: Gate;
  let serve: ServeProcess | undefined;
  let hap: HaproxyInstance;
  let passcode: string;

  beforeAll(async () => {
    [dovecot, pgServer] = await Promise.all([startDovecot(), startPostgres()]);
    const url = await pgServer.createDatabase('shared');
    const secret = join(mkdtempSync(join(tmpdir(), 'mailgate-shared-')), 'secret.key');
    const shared = (imapsPort: number, metricsPort: number) => ({
      store: { sqlite: null, postgres: { url } },
      secret_file: secret,
      imap: { listen: [{ host: '127.0.0.1', port: imapsPort, tls: 'implicit', proxy_protocol: true, proxy_from: ['127.0.0.1/32'] }] },
      metrics: { listen: { host: '127.0.0.1', port: metricsPort } },
    });
    // B first: it creates the secret file A then reads.
    b = await startGate(dovecot, shared(0, 0));
    const [aImaps, aMetrics] = await freePorts(2);
    const dir = mkdtempSync(join(tmpdir(), 'mailgate-a-'));
    const configFile = join(dir, 'mailgate.yaml');
    writeFileSync(configFile, stringify(gateConfigDoc(dovecot, dir, { ...shared(aImaps!, aMetrics!), log: { level: 'info' } })));
    serve = spawnServe(configFile);
    await serve.waitFor(/"msg":"IMAP listening"/, 30_000);
    hap = await startHaproxy([
      {
        name: 'imaps',
        sendProxy: true,
        servers: [
          { name: 'a', port: aImaps!, checkPort: aMetrics! },
          { name: 'b', port: b.imapsPort, checkPort: b.server.ops!.address.port },
        ],
      },
    ]);
    await new Promise((r) => setTimeout(r, 1500)); // both checks up (rise 2 × 300 ms)
    passcode = (await b.server.core.manager.createPasscode(ALICE, { name: 'failover', scopes: ['imap'] })).passcode;
  }, 90_000);
  afterAll(async () => {
    serve?.proc.kill('SIGKILL');
    await hap?.stop();
    await b?.close();
    await Promise.all([dovecot?.stop(), pgServer?.stop()]);
  });

  /** A mail app: connect through HAProxy from `from`, log in, open INBOX. */
  const session = async (from: string): Promise<RawClient> => {
    const c = await RawClient.connect(hap.ports.imaps!, { tls: true, ca: b.ca, localAddress: from });
    await c.until(/^\* OK/);
    expect((await c.cmd('l', `LOGIN ${ALICE} "${passcode}"`)).at(-1)).toMatch(/^l OK/);
    expect((await c.cmd('s', 'SELECT INBOX')).at(-1)).toMatch(/^s OK/);
    return c;
  };

  it('the sessions on the killed instance reconnect through HAProxy to the other one and work', async () => {
    // Round robin: four sessions, two on each instance (told apart by their client addresses).
    const froms = ['127.0.0.21', '127.0.0.22', '127.0.0.23', '127.0.0.24'];
    const clients = new Map<string, RawClient>();
    for (const f of froms) clients.set(f, await session(f));
    const onA = froms.filter((f) => new RegExp(`"ip":"${f.replaceAll('.', '\\.')}".*"msg":"logged in"`).test(serve!.out));
    const onB = froms.filter((f) => new RegExp(`"ip":"${f.replaceAll('.', '\\.')}".*"msg":"logged in"`).test(b.logs()));
    expect([onA.length, onB.length]).toEqual([2, 2]);

    serve!.proc.kill('SIGKILL');
    for (const f of onA) expect(await clients.get(f)!.closedWithin(5000)).toBe(true);
    // B's sessions never noticed.
    for (const f of onB) expect((await clients.get(f)!.cmd('n', 'NOOP')).at(-1)).toMatch(/^n OK/);

    // The dropped apps reconnect at once, before HAProxy's checks have marked A down: a refused
    // connection to A is redispatched to B (retries 3, option redispatch).
    const t0 = Date.now();
    for (const f of onA) {
      const c = await session(f);
      expect((await c.cmd('f', 'STATUS INBOX (MESSAGES)')).at(-1)).toMatch(/^f OK/);
      clients.set(f, c);
    }
    const ms = Date.now() - t0;
    console.log(`[haproxy] ${onA.length} sessions re-established on B in ${ms} ms after kill -9 of A`);
    expect(ms).toBeLessThan(5000);
    for (const f of onA) expect(b.logs()).toMatch(new RegExp(`"ip":"${f.replaceAll('.', '\\.')}".*"msg":"logged in"`));
    // A fresh client is served while A stays dead (HAProxy now sends everyone to B).
    await waitUntil(() => /Server imaps\/a is DOWN/.test(hap.log()), 5000);
    for (const c of clients.values()) c.close();
    const late = await session('127.0.0.25');
    late.close();
  }, 60_000);
});
