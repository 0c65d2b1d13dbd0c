/** The `mailgate` command line: one file per command group, dispatched from a typed table. */
import { ConfigError } from '../config/load.js';
import { UsageError } from '../core/manage.js';
import { accountsCommand, ACCOUNTS_HELP } from './accounts.js';
import { demoCommand } from '../demo/demo.js';
import { doctorCommand } from './doctor.js';
import { passcodesCommand, PASSCODES_HELP } from './passcodes.js';
import { serveCommand } from './serve.js';
import { unblockCommand, UNBLOCK_HELP } from './unblock.js';
import { totpCommand, TOTP_HELP } from './totp.js';
import { codesCommand, CODES_HELP } from './codes.js';
import { auditCommand, AUDIT_HELP } from './audit.js';
import { reportCommand, REPORT_HELP } from './report.js';
import { migrateCommand, MIGRATE_HELP, storeCommand, STORE_HELP } from './store.js';
import { CliError, processIo, type Io } from './util.js';

const COMMANDS: Readonly<Record<string, (argv: string[], io: Io) => Promise<number>>> = {
  serve: serveCommand,
  demo: demoCommand,
  doctor: doctorCommand,
  accounts: accountsCommand,
  passcodes: passcodesCommand,
  unblock: unblockCommand,
  totp: totpCommand,
  codes: codesCommand,
  audit: auditCommand,
  migrate: migrateCommand,
  store: storeCommand,
  report: reportCommand,
};

const HELP = `mailgate — application passcodes (2FA discipline) in front of any IMAP/SMTP server

mailgate serve [--no-migrate]             run the proxy (--no-migrate: refuse an outdated schema)
mailgate demo [--check]                   try it: private Dovecot/Postfix + mailgate, instructions printed
mailgate doctor [--user USER]             check config, certificate, upstream, master login
${ACCOUNTS_HELP}
${PASSCODES_HELP}
${UNBLOCK_HELP}
${TOTP_HELP}
${CODES_HELP}
${AUDIT_HELP}
${MIGRATE_HELP}
${STORE_HELP}
${REPORT_HELP}

Every command takes --config FILE (default: $MAILGATE_CONFIG, then ./config/mailgate.yaml);
listings take --json.`;

/** Runs the CLI; returns the exit code. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    io.out(HELP);
    return cmd ? 0 : 2;
  }
  const run = COMMANDS[cmd];
  if (!run) {
    io.err(`mailgate: unknown command "${cmd}"\n\n${HELP}`);
    return 2;
  }
  try {
    return await run(rest, io);
  } catch (e) {
    if (e instanceof CliError) {
      io.err(`mailgate ${cmd}: ${e.message}`);
      return e.exitCode;
    }
    if (e instanceof ConfigError || e instanceof UsageError) {
      io.err(`mailgate ${cmd}: ${e.message}`);
      return 2;
    }
    throw e;
  }
}
