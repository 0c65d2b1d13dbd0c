/** The operators' listener: /metrics counters move with real logins; /healthz, /readyz for a load balancer. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionRegistry } from '../../src/core/sessions.js';
import { createMetrics } from '../../src/ops/metrics.js';
import { startOps } from '../../src/ops/http.js';
import { startDovecot, type DovecotInstance } from '../../src/demo/dovecot.js';
import { describeInterop } from '../support/interop.js';
import { startGate, type Gate } from '../support/gate.js';
import { RawClient } from '../support/raw.js';

const get = async (port: number, path: string) => {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: r.status, text: await r.text() };
};
/** The value of one sample line, e.g. metric('mailgate_sessions{protocol="imap",kind="passcode"}'). */
const sample = (text: string, series: string): number =>
  Number(new RegExp(`^${series.replace(/[{}"()]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);

describeInterop('metrics and health endpoints', ['dovecot'], () => {
  let dovecot: DovecotInstance;
  let gate: Gate;
  let port: number;

  beforeAll(async () => {
    dovecot = await startDovecot();
    gate = await startGate(dovecot, { metrics: { listen: { host: '127.0.0.1', port: 0 } } });
    port = gate.server.ops!.address.port;
  }, 30_000);
  afterAll(async () => {
    await gate?.close();
    await dovecot?.stop();
  });

  it('counts decisions and live sessions from real logins', async () => {
    const { formatted } = await gate.server.core.manager.createPasscode('alice@example.com', { name: 'm', scopes: ['imap'] });
    const before = (await get(port, '/metrics')).text;
    expect(sample(before, 'mailgate_sessions{protocol="imap",kind="passcode"}')).toBeNaN(); // no session yet
    const login = async (secret: string) => {
      const c = await RawClient.connect(gate.imapsPort, { tls: true, ca: gate.ca });
      await c.until(/^\* OK/);
      return { c, answer: (await c.cmd('a1', `LOGIN alice@example.com "${secret}"`)).at(-1)! };
    };
    const good = await login(formatted);
    expect(good.answer).toMatch(/^a1 OK/);
    const bad = await login('alice-main-pw');
    expect(bad.answer).toMatch(/^a1 NO/);
    bad.c.close();
    const m = await get(port, '/metrics');
    expect(m.status).toBe(200);
    expect(sample(m.text, 'mailgate_auth_decisions_total{result="accept-passcode",reason="",protocol="imap"}')).toBe(1);
    expect(sample(m.text, 'mailgate_auth_decisions_total{result="reject",reason="not-a-passcode",protocol="imap"}')).toBe(1);
    expect(sample(m.text, 'mailgate_sessions{protocol="imap",kind="passcode"}')).toBe(1);
    expect(sample(m.text, 'mailgate_auth_decision_seconds_count{protocol="imap"}')).toBe(2);
    expect(m.text).toContain('mailgate_process_cpu_seconds_total');
    expect(sample(m.text, 'mailgate_hash_jobs{state="waiting"}')).toBe(0); // both logins answered: nothing left queued
    expect(m.text).not.toContain(formatted.replace(/ /g, ''));
    good.c.close();
    await new Promise((r) => setTimeout(r, 200));
    expect(sample((await get(port, '/metrics')).text, 'mailgate_sessions{protocol="imap",kind="passcode"}')).toBeNaN();
  });

  it('is healthy and ready, and not ready once draining', async () => {
    expect(await get(port, '/healthz')).toEqual({ status: 200, text: 'ok\n' });
    expect(await get(port, '/readyz')).toEqual({ status: 200, text: 'ready\n' });
    expect(sample((await get(port, '/metrics')).text, 'mailgate_store_up')).toBe(1);
    // A live session keeps the drain going; meanwhile the load balancer is told to stop sending clients.
    const { formatted } = await gate.server.core.manager.createPasscode('alice@example.com', { name: 'drain', scopes: ['imap'] });
    const c = await RawClient.connect(gate.imapsPort, { tls: true, ca: gate.ca });
    await c.until(/^\* OK/);
    expect((await c.cmd('a1', `LOGIN alice@example.com "${formatted}"`)).at(-1)).toMatch(/^a1 OK/);
    const draining = gate.server.shutdown(5_000);
    expect(await get(port, '/readyz')).toEqual({ status: 503, text: 'draining\n' });
    expect(await get(port, '/healthz')).toEqual({ status: 200, text: 'ok\n' });
    c.close();
    await draining;
  });
});

describe('readiness without the store', () => {
  let close: () => Promise<void>;
  afterAll(async () => {
    await close?.();
  });
  it('says 503 while the store does not answer, 200 again when it does', async () => {
    let storeUp = false;
    const metrics = createMetrics({ sessions: new SessionRegistry(), defaultMetrics: false });
    const ops = await startOps(
      { host: '127.0.0.1', port: 0 },
      {
        metrics,
        draining: () => false,
        readyTimeoutMs: 200,
        pingStore: () => (storeUp ? Promise.resolve() : new Promise(() => {})), // a store that hangs
      },
    );
    close = ops.close;
    expect(await get(ops.address.port, '/readyz')).toEqual({ status: 503, text: 'store unreachable\n' });
    expect(sample((await get(ops.address.port, '/metrics')).text, 'mailgate_store_up')).toBe(0);
    storeUp = true;
    expect((await get(ops.address.port, '/readyz')).status).toBe(200);
    expect((await get(ops.address.port, '/nope')).status).toBe(404);
  });
});
