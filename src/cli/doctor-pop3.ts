/**
 * mailgate doctor, POP3 part: the upstream answers (and TLS works as configured), it offers
 * Dovecot's XCLIENT to mailgate when `trusted` says it should, and the master login works.
 */
import type { Config } from '../config/types.js';
import { detectPop3Family, pop3Traits } from '../protocols/pop3/family.js';
import { Pop3Upstream } from '../protocols/pop3/upstream.js';

type Check = { name: string; ok: boolean; detail: string; warn?: boolean };

/** A name no upstream has: right master credentials then give "unknown user", not a login. */
const PROBE_USER = 'mailgate-doctor-probe@invalid';

/** Checks of the pop3 section's upstream. */
export async function pop3Checks(config: Readonly<Config>): Promise<Check[]> {
  const u = config.pop3!.upstream;
  const where = `${u.host}:${u.port} (${u.tls})`;
  let up: Pop3Upstream;
  try {
    up = await Pop3Upstream.open(u);
  } catch (e) {
    return [
      {
        name: 'POP3 upstream',
        ok: false,
        detail: `${where}: ${(e as Error).message}. Is the server running, and does pop3.upstream match its port and TLS mode (and CA, for TLS)?`,
      },
    ];
  }
  const checks: Check[] = [{ name: 'POP3 upstream', ok: true, detail: `${where}: ${up.greeting.slice(0, 120)}` }];
  const family = detectPop3Family(up.greeting);
  try {
    if (u.trusted) {
      checks.push(
        up.offersXclient
          ? { name: 'POP3 XCLIENT', ok: true, detail: 'offered to mailgate: Dovecot logs and penalises the real client address' }
          : {
              name: 'POP3 XCLIENT',
              ok: true,
              warn: true,
              detail:
                family === 'cyrus'
                  ? 'Cyrus pop3d takes no client address from a proxy (no XCLIENT): it sees every client as mailgate; pop3.upstream.trusted: false says so'
                  : "the upstream does not greet mailgate with [XCLIENT]: add mailgate's address to Dovecot's login_trusted_networks (or set pop3.upstream.trusted: false); until then the upstream sees every client as mailgate",
            },
      );
    }
    const reply = await up.login({ kind: 'master', user: PROBE_USER }, false);
    if (reply.startsWith('+OK'))
      checks.push({
        name: 'POP3 master login',
        ok: true,
        warn: true,
        detail: `the upstream logged master user ${authUser(config)} in as ${PROBE_USER}, a user that cannot exist: it does not check the target user`,
      });
    // What "no such user" looks like differs by server (protocols/pop3/family.ts).
    else if (pop3Traits(family).unknownUser.test(reply))
      checks.push({ name: 'POP3 master login', ok: true, detail: `master credentials of ${authUser(config)} accepted` });
    else
      checks.push({
        name: 'POP3 master login',
        ok: false,
        detail: `the upstream said "${reply.slice(0, 200)}". Check pop3.upstream.auth (method ${u.auth.method}, user ${authUser(config)}) against the server's master user setup`,
      });
    return checks;
  } catch (e) {
    return [...checks, { name: 'POP3 master login', ok: false, detail: (e as Error).message }];
  } finally {
    up.close();
  }
}

function authUser(config: Readonly<Config>): string {
  const a = config.pop3!.upstream.auth;
  return a.method === 'xclient' ? '(none)' : a.user;
}
