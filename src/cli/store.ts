/**
 * mailgate migrate: applies pending schema migrations to the configured store (run it once per
 * deploy when several instances start with `serve --no-migrate`).
 * mailgate store copy --from FILE.db --to postgres: moves an sqlite install into the configured,
 * empty PostgreSQL database (store/copy.ts).
 */
import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { describeStore } from '../store/index.js';
import { copySqliteToPostgres } from '../store/copy.js';
import { createPool } from '../store/postgres/index.js';
import { migratePostgres, pgSchemaVersion } from '../store/postgres/migrations.js';
import { migrate as migrateSqlite } from '../store/sqlite/migrations.js';
import type { Config } from '../config/types.js';
import { CliError, parse, readConfig, type Io } from './util.js';

export const MIGRATE_HELP = `mailgate migrate                          apply pending schema migrations to the configured store`;
export const STORE_HELP = `mailgate store copy --from FILE.db --to postgres
                                          copy an sqlite store into the configured (empty) PostgreSQL store`;

function pgPool(config: Readonly<Config>) {
  const p = config.store.postgres!;
  return createPool({ url: p.url, poolSize: 2, statementTimeoutMs: Math.max(p.statementTimeoutMs, 60_000) });
}

/** Applies pending migrations; prints the version before and after. */
export async function migrateCommand(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, {});
  if (values.help) {
    io.out(MIGRATE_HELP);
    return 0;
  }
  const config = readConfig(values.config, io);
  let from: number;
  let to: number;
  if (config.store.postgres) {
    const pool = pgPool(config);
    try {
      from = await pgSchemaVersion(pool);
      to = await migratePostgres(pool);
    } finally {
      await pool.end();
    }
  } else {
    if (!existsSync(config.store.sqlite!)) throw new CliError(`no sqlite database at ${config.store.sqlite} (serve creates it)`, 1);
    const db = new Database(config.store.sqlite!);
    try {
      from = db.pragma('user_version', { simple: true }) as number;
      to = migrateSqlite(db);
    } finally {
      db.close();
    }
  }
  const result = { store: describeStore(config), from, to };
  io.out(
    values.json
      ? JSON.stringify(result)
      : from === to
        ? `${result.store}: schema version ${to}, up to date`
        : `${result.store}: schema version ${from} → ${to}`,
  );
  return 0;
}

/** mailgate store copy … */
export async function storeCommand(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(argv, { from: { type: 'string' }, to: { type: 'string' } });
  if (values.help || positionals[0] !== 'copy') {
    io.out(STORE_HELP);
    return values.help ? 0 : 2;
  }
  if (!values.from) throw new CliError('--from FILE.db is required (the sqlite database to copy)');
  if (values.to !== 'postgres') throw new CliError('--to postgres is required (the only target: the store.postgres of the configuration)');
  if (!existsSync(values.from)) throw new CliError(`no sqlite database at ${values.from}`);
  const config = readConfig(values.config, io);
  if (!config.store.postgres) throw new CliError('the configuration has no store.postgres to copy into');
  const pool = pgPool(config);
  try {
    const counts = await copySqliteToPostgres(values.from, pool);
    io.out(
      values.json
        ? JSON.stringify(counts)
        : `copied ${values.from} → ${describeStore(config)}: ${Object.entries(counts)
            .map(([t, n]) => `${n} ${t}`)
            .join(', ')}\n` + 'Keep secret_file with the copy: passcode tags and TOTP secrets are keyed by it.',
    );
    return 0;
  } catch (e) {
    throw new CliError((e as Error).message, 1);
  } finally {
    await pool.end();
  }
}
