import { describe, expect, it } from 'vitest';
import { type ConfigError, buildConfig } from './load.js';
import { parseFromDate } from './rollout.js';

const base = {
  tls: { cert: 'c.pem', key: 'k.pem' },
  imap: {
    listen: [{ port: 1143 }],
    upstream: { host: '127.0.0.1', port: 143, auth: { method: 'sasl-proxy', user: 'm', password: 'p' } },
  },
};
const withPolicy = (policy: Record<string, unknown>) => buildConfig({ ...base, policy }, null, {});
const problems = (policy: Record<string, unknown>): string => {
  try {
    withPolicy(policy);
  } catch (e) {
    return (e as ConfigError).problems.join('\n');
  }
  return '';
};

describe('policy rollout entries', () => {
  it('reads strings (enforce now), mappings with mode or from, and the observe list', () => {
    const c = withPolicy({
      enforce: ['Example.com', { domain: 'example.net', from: '2027-01-15' }, { account: 'Bob@Example.org', mode: 'observe' }],
      observe: ['@example.info'],
    });
    expect(c.policy.enforce).toEqual([
      { target: 'example.com', mode: 'enforce', from: null },
      { target: 'example.net', mode: 'enforce', from: new Date(2027, 0, 15).getTime() },
      { target: 'bob@example.org', mode: 'observe', from: null },
      { target: 'example.info', mode: 'observe', from: null },
    ]);
    expect(withPolicy({ enforce: 'all' }).policy.enforce).toBe('all');
    expect(withPolicy({}).policy.enforce).toEqual([]);
  });

  it('a date is local midnight; a full time keeps its offset; impossible dates are refused', () => {
    expect(parseFromDate('2027-01-15')).toBe(new Date(2027, 0, 15, 0, 0, 0).getTime());
    expect(parseFromDate('2027-01-15T06:00:00Z')).toBe(Date.UTC(2027, 0, 15, 6));
    expect(parseFromDate('2027-01-15T06:00+02:00')).toBe(Date.UTC(2027, 0, 15, 4));
    expect(parseFromDate('2027-02-30')).toBeNull();
    expect(parseFromDate('next tuesday')).toBeNull();
    expect(parseFromDate(20270115)).toBeNull();
  });

  it('names the entry and the key of every mistake', () => {
    const text = problems({
      enforce: [
        { domain: 'example.net', from: 'soon' },
        { domain: 'a@example.net' },
        { account: 'x', mode: 'enforce' },
        { mode: 'observe' },
      ],
      observe: [{ domain: 'example.org' }],
    });
    expect(text).toContain('policy.enforce[0].from: expected a date like 2027-01-15');
    expect(text).toContain('policy.enforce[1].domain: a domain has no "@"');
    expect(text).toContain('policy.enforce[2].account: expected an address');
    expect(text).toContain('policy.enforce[3]: expected exactly one of domain: or account:');
    expect(text).toContain('policy.observe[0]: expected a domain or an address');
    expect(problems({ enforce: [{ domain: 'example.net', mode: 'observe', from: '2027-01-15' }] })).toContain(
      'policy.enforce[0].from: from: is the date',
    );
    expect(problems({ enforce: [{ domain: 'example.net', colour: 'red' }] })).toContain('unknown key colour');
  });

  it('refuses a target listed twice and observe beside enforce: all', () => {
    expect(problems({ enforce: ['example.com'], observe: ['Example.com'] })).toContain('example.com is listed twice');
    expect(problems({ enforce: 'all', observe: ['example.com'] })).toContain('policy.observe: enforce: all leaves no one to observe');
  });
});
