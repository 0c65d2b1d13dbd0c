/**
 * Whether the real components (Dovecot, Postfix, PostgreSQL) the interop tests need are available, plus the
 * small process bookkeeping shared by the testbed launchers.
 */
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { postgresBinDir, postgresUser } from './postgres.js';

/** What the demo needs (a one-box install never needs PostgreSQL). */
export const INTEROP_INSTALL_HINT = 'apt-get install -y dovecot-imapd dovecot-pop3d dovecot-lmtpd postfix';
/** What the whole test suite needs. */
const TEST_INSTALL_HINT = `${INTEROP_INSTALL_HINT} postgresql haproxy redis-server`;

/**
 * Never `apt-get install cyrus-imapd`: it conflicts with dovecot-imapd and removes Dovecot. The
 * script installs cyrus-common/cyrus-admin/sasl2-bin and unpacks imapd without installing it.
 */
export const CYRUS_INSTALL_HINT =
  'scripts/install-cyrus.sh (cyrus-common cyrus-admin sasl2-bin + imapd unpacked with dpkg-deb -x; or set CYRUS_BIN_DIR)';

/** Where scripts/install-cyrus.sh unpacks imapd/idled/pop3d (its default cache folder). */
export const CYRUS_CACHE_BIN = '/var/cache/mailgate/cyrus/usr/lib/cyrus/bin';
const CYRUS_SYSTEM_BIN = '/usr/lib/cyrus/bin';

/** Find an executable: first in `preferred` (absolute paths), then on PATH (plus the sbin dirs). */
export function findExecutable(name: string, preferred: string[] = []): string | null {
  const pathDirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  const candidates = [
    ...preferred,
    ...[...pathDirs, '/usr/sbin', '/usr/local/sbin', '/sbin', '/usr/bin', '/usr/local/bin'].map((d) => path.join(d, name)),
  ];
  return candidates.find(isExecutable) ?? null;
}

const DOVECOT_LIBEXEC = ['/usr/lib/dovecot', '/usr/libexec/dovecot', '/usr/local/libexec/dovecot'];

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * The Cyrus binaries the testbed needs, or null when any is missing: CYRUS_BIN_DIR first, then the
 * install script's cache, then /usr/lib/cyrus/bin (a full cyrus-imapd install, without Dovecot).
 */
export function cyrusBinaries(): {
  imapd: string;
  idled: string;
  pop3d: string;
  master: string;
  lmtpd: string;
  ctlCyrusdb: string;
  saslpasswd2: string;
} | null {
  const dirs = [process.env.CYRUS_BIN_DIR, CYRUS_CACHE_BIN, CYRUS_SYSTEM_BIN].filter((d): d is string => !!d);
  const inDirs = (name: string): string | null =>
    findExecutable(
      name,
      dirs.map((d) => path.join(d, name)),
    );
  // imapd, idled and pop3d come from the unpacked cyrus-imapd package (not on PATH).
  const imapd = dirs.map((d) => path.join(d, 'imapd')).find((p) => existsSync(p)) ?? null;
  const idled = dirs.map((d) => path.join(d, 'idled')).find((p) => existsSync(p)) ?? null;
  const pop3d = dirs.map((d) => path.join(d, 'pop3d')).find((p) => existsSync(p)) ?? null;
  // Debian's cyrus-common installs master as /usr/lib/cyrus/bin/master (cyrmaster on PATH).
  const master = inDirs('master') ?? findExecutable('cyrmaster');
  const lmtpd = inDirs('lmtpd');
  const ctlCyrusdb = inDirs('ctl_cyrusdb');
  const saslpasswd2 = findExecutable('saslpasswd2', ['/usr/sbin/saslpasswd2']);
  if (!imapd || !idled || !pop3d || !master || !lmtpd || !ctlCyrusdb || !saslpasswd2) return null;
  return { imapd, idled, pop3d, master, lmtpd, ctlCyrusdb, saslpasswd2 };
}

/**
 * Which real components can be started here. Both launchers need root (Dovecot drops to the
 * `mail` user for mail access; Postfix's master always runs as root).
 */
export function interopStatus(): {
  dovecot: boolean;
  postfix: boolean;
  cyrus: boolean;
  postgres: boolean;
  haproxy: boolean;
  redis: boolean;
  hint: string;
  cyrusHint: string;
} {
  const root = isRoot();
  const dovecot =
    root &&
    findExecutable('dovecot', ['/usr/sbin/dovecot']) !== null &&
    findExecutable('doveconf', ['/usr/bin/doveconf']) !== null &&
    // the imap/pop3/lmtp binaries come from dovecot-imapd/-pop3d/-lmtpd, not dovecot-core
    ['imap', 'pop3', 'lmtp'].every((b) => DOVECOT_LIBEXEC.some((d) => isExecutable(path.join(d, b))));
  const postfix =
    root && findExecutable('postfix', ['/usr/sbin/postfix']) !== null && findExecutable('postconf', ['/usr/sbin/postconf']) !== null;
  // PostgreSQL refuses root: as root it runs as the package's `postgres` user (demo/postgres.ts).
  const postgres = postgresBinDir() !== null && (!root || postgresUser() !== null);
  const haproxy = findExecutable('haproxy', ['/usr/sbin/haproxy']) !== null;
  // MAILGATE_INTEROP_DISABLE=dovecot,postfix,cyrus,postgres,haproxy,redis pretends a component is missing (to
  // exercise the skip/fail paths, or to skip the slower interop suites locally).
  const disabled = new Set((process.env.MAILGATE_INTEROP_DISABLE ?? '').split(',').map((x) => x.trim()));
  // Only the multi-instance tests need it; it runs as whoever runs the tests.
  const redis = findExecutable('redis-server', ['/usr/bin/redis-server']) !== null;
  const hint = root ? TEST_INSTALL_HINT : `${TEST_INSTALL_HINT} (and run the tests as root)`;
  const cyrus = root && cyrusBinaries() !== null && /^cyrus:/m.test(readFileSync('/etc/passwd', 'utf8')); // master drops to it
  const cyrusHint = root ? CYRUS_INSTALL_HINT : `${CYRUS_INSTALL_HINT} (and run the tests as root)`;
  return {
    dovecot: dovecot && !disabled.has('dovecot'),
    postfix: postfix && !disabled.has('postfix'),
    cyrus: cyrus && !disabled.has('cyrus'),
    postgres: postgres && !disabled.has('postgres'),
    haproxy: haproxy && !disabled.has('haproxy'),
    redis: redis && !disabled.has('redis'),
    hint,
    cyrusHint,
  };
}
