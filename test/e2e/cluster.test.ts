/**
 * `mailgate serve --workers 2` as an admin runs it (the built CLI, a real Dovecot): both workers
 * serve logins, the brute-force guard counts one source across both, SIGHUP reaches both, a killed
 * worker is replaced, SIGTERM stops all within the grace, and a security notice is sent once.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { main } from '../../src/cli/index.js';
import { describeInterop } from '../support/interop.js';
import { gateConfigDoc } from '../support/gate.js';
import { RawClient } from '../support/raw.js';
import { spawnServe, type ServeProcess } from '../support/serve-process.js';
import { startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';

const ALICE = 'alice@example.com';
const BLOCK_AFTER = 6;
const ADMIN_TOKEN = 'cluster-admin-token-0123456789abcdef';

interface Line {
  worker?: number | string;
  msg: string;
  ip?: string;
  user?: string;
  pids?: number[];
  auditId?: number;
  port?: number;
}

describeInterop('mailgate serve --workers 2', ['dovecot'], () => {
  let dovecot: DovecotInstance;
  let dir: string;
  let configFile: string;
  let serve: ServeProcess;
  let port = 0;
  let passcode = '';
  const write = (overrides: Record<string, unknown>) =>
    writeFileSync(
      configFile,
      stringify(
        gateConfigDoc(dovecot, dir, {
          limits: { shutdown_grace: '2s', idle_timeout: '20s' },
          auth: { bcrypt_cost: 4, hash_workers: 1, failure_delay: '10ms', refusal_hint: false, throttle: { block_after: BLOCK_AFTER } },
          notify: { enabled: true },
          metrics: { listen: { host: '127.0.0.1', port: 0 } },
          portal: { listen: { host: '127.0.0.1', port: 0 } },
          admin: { token: ADMIN_TOKEN },
          ...overrides,
        }),
      ),
    );
  const lines = (): Line[] =>
    serve.out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Line);
  const workersWith = (pred: (l: Line) => boolean) =>
    new Set(
      lines()
        .filter(pred)
        .map((l) => l.worker),
    );
  const login = async (user: string, secret: string, localAddress = '127.0.0.1') => {
    const c = await RawClient.connect(port, { tls: true, ca: dovecot.certs.caCert, localAddress });
    await c.until(/^\* OK/);
    const r = (await c.cmd('a1', `LOGIN ${user} "${secret}"`)).at(-1) ?? '';
    c.close();
    return r;
  };

  beforeAll(async () => {
    dovecot = await startDovecot();
    dir = mkdtempSync(join(tmpdir(), 'mailgate-cluster-'));
    configFile = join(dir, 'mailgate.yaml');
    write({});
    serve = spawnServe(configFile, { dist: true, args: ['--workers', '2'] });
    await serve.waitFor(/all workers serving/, 30_000);
    port = Number((await serve.waitFor(/"port":(\d+),"tls":"implicit","msg":"IMAP listening"/))[1]);
    await main(['passcodes', 'create', ALICE, '--name', 'cluster', '--config', configFile, '--json'], {
      out: (t) => {
        passcode = (JSON.parse(t) as { passcode: string }).passcode;
      },
      err: () => {},
      env: {},
    });
  }, 60_000);
  afterAll(async () => {
    serve?.proc.kill('SIGKILL');
    for (const pid of lines().find((l) => l.msg === 'all workers serving')?.pids ?? []) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await dovecot?.stop();
  });

  it('serves logins on both workers', async () => {
    const results = [];
    for (let i = 0; i < 20; i++) results.push(await login(ALICE, passcode));
    expect(results.filter((r) => /^a1 OK/.test(r))).toHaveLength(20);
    const served = workersWith((l) => l.msg === 'connected' && l.ip === '127.0.0.1');
    expect([...served].sort()).toEqual([0, 1]);
    // One /metrics for the service: the supervisor adds up both workers' counters.
    const metricsPort = lines().find((l) => l.msg === 'metrics listening (every worker added up)')?.port;
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const accepted = /^mailgate_auth_decisions_total\{[^}]*result="accept-passcode"[^}]*\} (\d+)$/m.exec(text);
    expect(Number(accepted?.[1])).toBe(20);
  }, 60_000);

  it("shows every worker's live sessions in the admin API (worker 0's portal)", async () => {
    const portalPort = lines().find((l) => l.msg === 'portal listening')?.port;
    const account = async () => {
      const res = await fetch(`http://127.0.0.1:${portalPort}/api/admin/accounts/${ALICE}`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      expect(res.status).toBe(200);
      const a = (await res.json()) as { liveSessions: number; passcodeList: Array<{ name: string; liveSessions: number }> };
      return [a.liveSessions, a.passcodeList.find((pc) => pc.name === 'cluster')?.liveSessions];
    };
    /** Polls the account view until it shows `want`; returns it and how long that took (ms). */
    const until = async (want: number[]) => {
      const t0 = Date.now();
      let got = await account();
      while (JSON.stringify(got) !== JSON.stringify(want) && Date.now() - t0 < 3_000) {
        await new Promise((r) => setTimeout(r, 25));
        got = await account();
      }
      return { got, ms: Date.now() - t0 };
    };
    expect((await until([0, 0])).got).toEqual([0, 0]); // the first test's sessions have all ended
    const src = '127.0.0.5';
    const held: RawClient[] = [];
    for (let i = 0; i < 6; i++) {
      const c = await RawClient.connect(port, { tls: true, ca: dovecot.certs.caCert, localAddress: src });
      await c.until(/^\* OK/);
      expect((await c.cmd('a1', `LOGIN ${ALICE} "${passcode}"`)).at(-1)).toMatch(/^a1 OK/);
      held.push(c);
    }
    // Both workers hold some: worker 0 alone would have shown fewer than 6.
    expect([...workersWith((l) => l.msg === 'connected' && l.ip === src)].sort()).toEqual([0, 1]);
    const up = await until([6, 6]);
    expect(up.got).toEqual([6, 6]);
    expect(up.ms).toBeLessThan(1_000);
    for (const c of held) c.close();
    const down = await until([0, 0]);
    expect(down.got).toEqual([0, 0]);
    expect(down.ms).toBeLessThan(1_000);
    console.log(`live-session counts: 6 shown after ${up.ms} ms, 0 after ${down.ms} ms`);
  }, 60_000);

  it('blocks a source after block_after failures in total, spread over both workers', async () => {
    const src = '127.0.0.2';
    for (let i = 0; i < BLOCK_AFTER; i++) expect(await login(ALICE, `wrong-passcode-${i}`, src)).toMatch(/^a1 NO/);
    // Each worker saw only part of them: without one count neither would have blocked.
    expect([...workersWith((l) => l.msg === 'login rejected' && l.ip === src)].sort()).toEqual([0, 1]);
    expect(await login(ALICE, passcode, src)).toMatch(/^a1 NO/); // the right passcode, but the source is blocked
    await serve.waitFor(/"worker":"supervisor".*source blocked after repeated login failures/, 5_000);
    expect(lines().filter((l) => l.msg === 'source blocked after repeated login failures')).toHaveLength(1);
    expect(await login(ALICE, passcode, '127.0.0.4')).toMatch(/^a1 OK/); // another source is not affected
  }, 60_000);

  it('applies a SIGHUP policy change in both workers', async () => {
    const bob = () => login('bob@example.com', 'bob-main-pw', '127.0.0.3');
    expect(await bob()).toMatch(/^a1 OK/);
    write({ policy: { enforce: ['example.com'] } });
    serve.proc.kill('SIGHUP');
    const deadline = Date.now() + 10_000;
    while (workersWith((l) => l.msg === 'configuration reloaded (certificate and policy)').size < 2 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect([...workersWith((l) => l.msg === 'configuration reloaded (certificate and policy)')].sort()).toEqual([0, 1]);
    for (let i = 0; i < 4; i++) expect(await bob()).toMatch(/^a1 NO \[AUTHENTICATIONFAILED\]/);
    expect([...workersWith((l) => l.msg === 'login rejected' && l.user === 'bob@example.com')].sort()).toEqual([0, 1]);
  }, 60_000);

  it('replaces a killed worker, and logins keep working', async () => {
    const pids = lines().find((l) => l.msg === 'all workers serving')?.pids ?? [];
    expect(pids).toHaveLength(2);
    process.kill(pids[1]!, 'SIGKILL');
    await serve.waitFor(/worker died; replacing it/, 10_000);
    await serve.waitFor(/replacement worker serving/, 20_000);
    for (let i = 0; i < 6; i++) expect(await login(ALICE, passcode)).toMatch(/^a1 OK/);
  }, 60_000);

  it('sends one security notice per event', async () => {
    await main(['passcodes', 'create', ALICE, '--name', 'second', '--config', configFile, '--json'], {
      out: () => {},
      err: () => {},
      env: {},
    });
    await serve.waitFor(/security notice delivered/, 15_000);
    await new Promise((r) => setTimeout(r, 1_500)); // a second delivery would come within a poll or two
    const delivered = lines().filter((l) => l.msg === 'security notice delivered');
    expect(new Set(delivered.map((l) => l.auditId)).size).toBe(delivered.length); // no event delivered twice
    expect(delivered.every((l) => l.worker === 'supervisor')).toBe(true);
  }, 60_000);

  it('stops every process within the grace on SIGTERM', async () => {
    const pids = lines()
      .filter((l) => l.msg === 'all workers serving' || l.msg === 'replacement worker serving')
      .flatMap((l) => l.pids ?? []);
    const live = await RawClient.connect(port, { tls: true, ca: dovecot.certs.caCert });
    await live.until(/^\* OK/);
    expect((await live.cmd('a1', `LOGIN ${ALICE} "${passcode}"`)).at(-1)).toMatch(/^a1 OK/);
    const t0 = Date.now();
    serve.proc.kill('SIGTERM');
    expect(await serve.exited()).toBe(0);
    const took = Date.now() - t0;
    expect(took).toBeLessThan(2_000 + 3_000);
    expect(await live.closedWithin(1_000)).toBe(true); // the grace ended the held session
    expect(workersWith((l) => l.msg === 'worker stopped').size).toBe(2);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow(); // no worker left behind
  }, 30_000);
});
