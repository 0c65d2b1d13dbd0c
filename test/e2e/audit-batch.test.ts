/**
 * Batched audit writes (store/write-batch.ts) in a real `mailgate serve` process: a burst of
 * logins is queued, not written, during a long tick, and a SIGTERM commits every one of them
 * before the process exits.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { main } from '../../src/cli/index.js';
import { openSqliteStore } from '../../src/store/sqlite/index.js';
import { describeInterop } from '../support/interop.js';
import { gateConfigDoc } from '../support/gate.js';
import { RawClient } from '../support/raw.js';
import { spawnServe, type ServeProcess } from '../support/serve-process.js';
import { startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';

const ALICE = 'alice@example.com';
const BURST = 24;

describeInterop('batched audit writes in mailgate serve', ['dovecot'], () => {
  let dovecot: DovecotInstance;
  let dir: string;
  let configFile: string;
  let serve: ServeProcess;
  const waitFor = (re: RegExp, ms = 30_000) => serve.waitFor(re, ms);

  beforeAll(async () => {
    dovecot = await startDovecot();
    dir = mkdtempSync(join(tmpdir(), 'mailgate-auditbatch-'));
    configFile = join(dir, 'mailgate.yaml');
    // A tick far longer than the test: only the SIGTERM flush can write the burst's events.
    writeFileSync(
      configFile,
      stringify(gateConfigDoc(dovecot, dir, { log: { level: 'info' }, limits: { shutdown_grace: '1s' }, audit: { write_batch: '10m' } })),
    );
    serve = spawnServe(configFile);
  }, 30_000);
  afterAll(async () => {
    serve?.proc.kill('SIGKILL');
    await dovecot?.stop();
  });

  it('a burst of logins is queued during the tick and every event is committed on SIGTERM', async () => {
    const port = Number((await waitFor(/"port":(\d+),"tls":"implicit","msg":"IMAP listening"/))[1]);
    let passcode = '';
    await main(['passcodes', 'create', ALICE, '--name', 'burst', '--config', configFile, '--json'], {
      out: (t) => {
        passcode = (JSON.parse(t) as { passcode: string }).passcode;
      },
      err: () => {},
      env: {},
    });
    const login = async (i: number) => {
      const c = await RawClient.connect(port, { tls: true, ca: dovecot.certs.caCert });
      await c.until(/^\* OK/);
      // Accepted passcodes, refused main passwords and passthrough logins: every kind of auth event.
      const secret = i % 3 === 0 ? `"${passcode}"` : i % 3 === 1 ? 'alice-main-pw' : 'bob-main-pw';
      const user = i % 3 === 2 ? 'bob@example.com' : ALICE;
      const r = (await c.cmd(`t${i}`, `LOGIN ${user} ${secret}`)).at(-1)!;
      c.close();
      return r;
    };
    const replies = await Promise.all(Array.from({ length: BURST }, (_, i) => login(i)));
    expect(replies.filter((r) => / OK /.test(r))).toHaveLength((BURST * 2) / 3);

    const store = await openSqliteStore(join(dir, 'mailgate.db'), { migrate: false });
    try {
      // Queued, not written: the tick has not come.
      expect((await store.queryAudit({ type: 'auth', limit: 1000 })).length).toBe(0);
      const exited = serve.exited();
      serve.proc.kill('SIGTERM');
      expect(await exited).toBe(0);
      const events = await store.queryAudit({ type: 'auth', limit: 1000 });
      // One event per login, plus the upstream's verdict on each passthrough login.
      expect(events).toHaveLength(BURST + BURST / 3);
      expect(events.filter((e) => e.outcome === 'upstream-accept')).toHaveLength(BURST / 3);
      expect(events.filter((e) => e.outcome === 'accept')).toHaveLength(BURST / 3);
      expect(events.filter((e) => e.outcome === 'reject')).toHaveLength(BURST / 3);
      expect(events.filter((e) => e.outcome === 'passthrough')).toHaveLength(BURST / 3);
      // The passcode's last use came with the same flush.
      const [pc] = await store.listPasscodes(ALICE);
      expect(pc?.lastUsedAt).not.toBeNull();
    } finally {
      await store.close();
    }
  }, 60_000);
});
