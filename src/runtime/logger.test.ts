import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, silentLogger } from './logger.js';

/** Collects everything written into an array of lines. */
function sink(): { stream: Writable; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(
        ...chunk
          .toString('utf8')
          .split('\n')
          .filter((l) => l.length > 0),
      );
      cb();
    },
  });
  return { stream, lines };
}

describe('logger', () => {
  it('writes JSON lines with service and ISO timestamp', () => {
    const { stream, lines } = sink();
    const log = createLogger({ destination: stream });
    log.info({ user: 'alice' }, 'hello');
    expect(lines).toHaveLength(1);
    const rec = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(rec).toMatchObject({ service: 'mailgate', msg: 'hello', user: 'alice', level: 30 });
    expect(typeof rec.time).toBe('string');
    expect(Number.isNaN(Date.parse(rec.time as string))).toBe(false);
  });

  it('never writes redacted fields', () => {
    const { stream, lines } = sink();
    const log = createLogger({ destination: stream, level: 'debug' });
    const secrets = ['hunter2-top', 'pass-xyz-1', 'secret-abc-2', 'ABCD-EFGH-IJKL', 'master-pw-9'];
    log.info({ password: secrets[0], pass: secrets[1], secret: secrets[2], passcode: secrets[3] }, 'top');
    log.debug(
      {
        req: { password: secrets[0], pass: secrets[1] },
        auth: { secret: secrets[2], passcode: secrets[3] },
        masterPassword: secrets[4],
        cfg: { masterPassword: secrets[4] },
      },
      'nested',
    );
    const out = lines.join('\n');
    expect(lines).toHaveLength(2);
    for (const s of secrets) expect(out).not.toContain(s);
    expect(out).toContain('[redacted]');
    const nested = JSON.parse(lines[1]!) as { req: { password: string }; cfg: { masterPassword: string } };
    expect(nested.req.password).toBe('[redacted]');
    expect(nested.cfg.masterPassword).toBe('[redacted]');
  });

  it('redacts in child bindings and inside errors, and leaves the logged objects as they were', () => {
    const { stream, lines } = sink();
    const log = createLogger({ destination: stream });
    const child = log.child({ sid: 's1', password: 'bound-secret-1', ctx: { passcode: 'bound-secret-2' } });
    const err = Object.assign(new Error('upstream said no'), { password: 'err-secret-3' });
    const req = { user: 'alice', password: 'obj-secret-4' };
    child.error({ err, req, list: ['kept'] }, 'failed');
    child.child({ secret: 'grand-secret-5' }).info('grandchild');
    const out = lines.join('\n');
    expect(lines).toHaveLength(2);
    for (const s of ['bound-secret-1', 'bound-secret-2', 'err-secret-3', 'obj-secret-4', 'grand-secret-5']) expect(out).not.toContain(s);
    const rec = JSON.parse(lines[0]!) as { sid: string; err: { message: string; stack: string }; req: { user: string }; list: string[] };
    expect(rec.sid).toBe('s1');
    expect(rec.err.message).toBe('upstream said no');
    expect(rec.err.stack).toContain('upstream said no');
    expect(rec.req.user).toBe('alice');
    expect(rec.list).toEqual(['kept']);
    // And in `base` (a worker's fields), as pino's redact did.
    const based = sink();
    createLogger({ destination: based.stream, base: { worker: 1, masterPassword: 'base-secret-6' } }).info('with base');
    expect(based.lines.join('\n')).not.toContain('base-secret-6');
    expect(JSON.parse(based.lines[0]!)).toMatchObject({ worker: 1, masterPassword: '[redacted]', service: 'mailgate' });
    // The caller's objects are not modified: only the line is censored.
    expect(req.password).toBe('obj-secret-4');
    expect(err.password).toBe('err-secret-3');
  });

  it('respects the level', () => {
    const { stream, lines } = sink();
    const log = createLogger({ destination: stream, level: 'warn' });
    log.info('dropped');
    log.warn('kept');
    expect(lines).toHaveLength(1);
    expect(silentLogger.level).toBe('silent');
  });
});
