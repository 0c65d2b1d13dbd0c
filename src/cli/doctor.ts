/**
 * mailgate doctor: checks what an admin gets wrong most often — the config, the certificate, the
 * upstream's reachability and TLS, and the master login — and says what to do about it.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadServerTls } from '../net/tls.js';
import { ImapUpstream } from '../protocols/imap/upstream.js';
import { SmtpUpstream } from '../protocols/smtp/upstream.js';
import { identityFor } from '../core/identity.js';
import { familyTraits } from '../protocols/imap/family.js';
import { pop3Checks } from './doctor-pop3.js';
import { clientAddressAdvice, detectSmtpFamily, masterLoginAdvice, xclientAdvice } from './doctor-family.js';
import type { Config } from '../config/types.js';
import { parse, readConfig, type Io } from './util.js';

/** `warn`: works, but a setting is risky; printed as WARN, does not fail the run. */
type Check = { name: string; ok: boolean; detail: string; warn?: boolean };

export async function doctorCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, { user: { type: 'string' } });
  if (values.help) {
    io.out('mailgate doctor [--config FILE] [--user USER]   check config, certificate, upstreams (IMAP, SMTP, POP3) and master logins');
    return 0;
  }
  const checks: Check[] = [];
  let config: Readonly<Config>;
  try {
    config = readConfig(values.config, io);
    checks.push({ name: 'configuration', ok: true, detail: config.file ?? '' });
  } catch (e) {
    checks.push({ name: 'configuration', ok: false, detail: (e as Error).message });
    return report(checks, io, values.json);
  }
  if (config.tls) checks.push(certificateCheck(config.tls));
  if (config.imap) checks.push(...(await imapChecks(config, values.user)));
  if (config.imap) checks.push(...(await identityChecks(config, values.user)));
  if (config.smtp) checks.push(...(await smtpChecks(config)));
  if (config.pop3) checks.push(...(await pop3Checks(config)));
  return report(checks, io, values.json);
}

function certificateCheck(tls: { cert: string; key: string }): Check {
  try {
    loadServerTls(tls);
    const cert = new X509Certificate(readFileSync(tls.cert));
    const days = Math.floor((Date.parse(cert.validTo) - Date.now()) / 86_400_000);
    if (days < 0) return { name: 'TLS certificate', ok: false, detail: `${tls.cert} expired on ${cert.validTo}: renew it` };
    return {
      name: 'TLS certificate',
      ok: true,
      detail: `${cert.subject.replace(/\n/g, ', ')}; valid ${days} more days${days < 14 ? ' — renew soon' : ''}`,
    };
  } catch (e) {
    return { name: 'TLS certificate', ok: false, detail: (e as Error).message };
  }
}

async function imapChecks(config: Readonly<Config>, user: string | undefined): Promise<Check[]> {
  const u = config.imap!.upstream;
  const where = `${u.host}:${u.port} (${u.tls})`;
  let up: ImapUpstream;
  try {
    up = await ImapUpstream.open(u);
  } catch (e) {
    return [
      {
        name: 'IMAP upstream',
        ok: false,
        detail: `${where}: ${(e as Error).message}. Is the server running, and does imap.upstream match its port and TLS mode (and CA, for TLS)?`,
      },
    ];
  }
  let family;
  try {
    family = await up.identify();
  } catch (e) {
    up.close();
    return [{ name: 'IMAP upstream', ok: false, detail: `${where}: ${(e as Error).message}` }];
  }
  const checks: Check[] = [
    { name: 'IMAP upstream', ok: true, detail: `${where}: ${familyTraits(family).name} — ${up.greeting.slice(0, 120)}` },
  ];
  if (u.auth.method === 'xclient') {
    up.close();
    return checks;
  }
  checks.push({ name: 'IMAP client address', ok: true, warn: !u.trusted, detail: clientAddressAdvice(family, u.trusted) });
  // Without a real user, ask for a user that cannot exist: right master credentials then give
  // the refusal "unknown user" (Dovecot AUTHORIZATIONFAILED; Cyrus logs in, but no INBOX).
  const target = user ? (identityFor(config).canonical(user) ?? user) : 'mailgate-doctor-probe@invalid';
  try {
    const r = await up.login({ kind: 'master', user: target });
    if (r.status === 'OK' && !user)
      checks.push({
        name: 'IMAP master login',
        ok: true,
        warn: true,
        detail: `the upstream logged master user ${u.auth.user} in as ${target}, a user that cannot exist: it does not check the target user, so a passcode of an account deleted upstream opens an empty mailbox (docs/UPSTREAMS.md)`,
      });
    else if (r.status === 'OK')
      checks.push({ name: 'IMAP master login', ok: true, detail: `logged in as ${target} with master user ${u.auth.user}` });
    else if (!user && r.refusal === 'unknown-user')
      checks.push({
        name: 'IMAP master login',
        ok: true,
        detail: `master credentials of ${u.auth.user} accepted (test a real account with --user USER)`,
      });
    else
      checks.push({
        name: 'IMAP master login',
        ok: false,
        detail: `the upstream said "${r.text}". Check imap.upstream.auth (method ${u.auth.method}, user ${u.auth.user}) against the server's master user setup (${masterLoginAdvice(family, u.auth.method, u.auth.user)})`,
      });
  } catch (e) {
    checks.push({ name: 'IMAP master login', ok: false, detail: (e as Error).message });
  } finally {
    up.close();
  }
  return checks;
}

/**
 * Does the upstream read names the way mailgate does? If it logs in `alice` or
 * `alice@unlisted-domain.invalid` as a user while mailgate treats that name as another account
 * than alice@example.com (or as not enforced), a main password walks past enforcement.
 */
async function identityChecks(config: Readonly<Config>, user: string | undefined): Promise<Check[]> {
  const identity = identityFor(config);
  const enforcesDomains = config.policy.enforce === 'all' || config.policy.enforce.some((e) => !e.target.includes('@'));
  const open = config.identity.defaultDomain === null && config.identity.domains === null;
  const name = 'identity';
  if (!user) {
    return [
      {
        name,
        ok: true,
        warn: open && enforcesDomains,
        detail: `${open && enforcesDomains ? 'identity.default_domain and identity.domains are not set: if the upstream adds or drops domains, a name typed another way is another account for mailgate. ' : ''}Run with --user USER to check how the upstream normalises names.`,
      },
    ];
  }
  const account = identity.canonical(user);
  if (account === null)
    return [
      {
        name,
        ok: false,
        detail: `${user} is not an account under this identity configuration (identity.default_domain / identity.domains)`,
      },
    ];
  const u = config.imap!.upstream;
  if (u.auth.method === 'xclient') return [];
  const at = account.lastIndexOf('@');
  const local = at < 0 ? account : account.slice(0, at);
  const domain = at < 0 ? null : account.slice(at + 1);
  const probes: Array<{ probe: string; fix: string }> = [
    ...(domain ? [{ probe: local, fix: `identity.default_domain: ${domain}` }] : []),
    { probe: `${local}@unlisted-domain.invalid`, fix: `identity.domains: [ ${domain ?? 'your domains'} ]` },
  ];
  const problems: string[] = [];
  const seen: string[] = [];
  for (const { probe, fix } of probes) {
    const seenAs = identity.canonical(probe);
    // Same account for mailgate, or refused by it: nothing to walk around, whatever the upstream does.
    if (seenAs === account || seenAs === null) {
      seen.push(`"${probe}" ${seenAs ? `is ${account} for mailgate` : 'is refused by mailgate'}`);
      continue;
    }
    let up: ImapUpstream | null = null;
    try {
      up = await ImapUpstream.open(u);
      const r = await up.login({ kind: 'master', user: probe });
      if (r.status === 'OK')
        problems.push(
          `the upstream logs in "${probe}" (the same mailbox as ${account}?) but mailgate treats it as another account (${seenAs}): set ${fix}`,
        );
      else seen.push(`the upstream does not know "${probe}"`);
    } catch (e) {
      return [{ name, ok: false, detail: `could not probe the upstream: ${(e as Error).message}` }];
    } finally {
      up?.close();
    }
  }
  if (problems.length)
    return [{ name, ok: false, detail: `${problems.join('; ')}. Otherwise a main password typed that way is not enforced.` }];
  return [{ name, ok: true, detail: `the upstream and mailgate agree on who ${account} is (${seen.join('; ')})` }];
}

async function smtpChecks(config: Readonly<Config>): Promise<Check[]> {
  const u = config.smtp!.upstream;
  const where = `${u.host}:${u.port} (${u.tls})`;
  let up: SmtpUpstream;
  try {
    up = await SmtpUpstream.open(u, config.smtp!.hostname);
  } catch (e) {
    return [
      {
        name: 'SMTP upstream',
        ok: false,
        detail: `${where}: ${(e as Error).message}. Is the submission server running, and does smtp.upstream match its port and TLS mode?`,
      },
    ];
  }
  try {
    const ext = [...up.extensions.keys()].join(' ');
    const family = detectSmtpFamily(up.greeting);
    const checks: Check[] = [
      { name: 'SMTP upstream', ok: true, detail: `${where}: ${family === 'unknown' ? 'unknown server' : family} — EHLO offers ${ext}` },
    ];
    if (u.auth.method === 'xclient' || u.trusted) {
      // Postfix announces XCLIENT only to hosts in smtpd_authorized_xclient_hosts.
      const has = up.extensions.has('XCLIENT');
      checks.push(
        has
          ? { name: 'SMTP XCLIENT', ok: true, detail: `allowed for mailgate (${up.extensions.get('XCLIENT')})` }
          : {
              name: 'SMTP XCLIENT',
              ok: u.auth.method !== 'xclient',
              detail: `the upstream does not offer XCLIENT to mailgate's address: ${xclientAdvice(family)}${u.auth.method === 'xclient' ? '' : ' (or set smtp.upstream.trusted: false)'}`,
            },
      );
    }
    if (u.auth.method === 'sasl-proxy' && !up.extensions.has('AUTH'))
      checks.push({
        name: 'SMTP AUTH',
        ok: false,
        detail: 'the upstream offers no AUTH to mailgate (sasl-proxy needs AUTH PLAIN with a master user)',
      });
    return checks;
  } finally {
    up.destroy();
  }
}

function report(checks: Check[], io: Io, json: boolean | undefined): number {
  const failed = checks.filter((c) => !c.ok).length;
  if (json) io.out(JSON.stringify({ ok: failed === 0, checks }, null, 2));
  else {
    for (const c of checks) io.out(`${!c.ok ? 'FAIL' : c.warn ? 'WARN' : 'ok  '}  ${c.name}: ${c.detail}`);
    io.out(failed ? `\n${failed} problem(s) found.` : '\nAll checks passed.');
  }
  return failed ? 1 : 0;
}
