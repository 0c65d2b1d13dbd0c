/**
 * Opens the configured Store backend: sqlite (embedded default, one process or one box) or
 * postgres (shared by several instances). The only place that chooses between them.
 */
import type { Config } from '../config/types.js';
import { openPostgresStore } from './postgres/index.js';
import { openSqliteStore } from './sqlite/index.js';
import type { Store } from './types.js';

export interface OpenStoreOptions {
  /** Apply pending schema migrations (default); false: refuse a schema that is not current. */
  migrate?: boolean;
  /** A background failure of the backend (a pooled PostgreSQL connection dropped). */
  onError?: (err: Error) => void;
}

/** Opens the backend `config.store` names. */
export async function openStore(config: Pick<Config, 'store'>, opts: OpenStoreOptions = {}): Promise<Store> {
  const { sqlite, postgres } = config.store;
  if (postgres) {
    return openPostgresStore({
      url: postgres.url,
      poolSize: postgres.poolSize,
      statementTimeoutMs: postgres.statementTimeoutMs,
      migrate: opts.migrate ?? true,
      onError: opts.onError,
    });
  }
  if (sqlite === null) throw new Error('no store configured');
  return openSqliteStore(sqlite, { migrate: opts.migrate ?? true });
}

/** A one-line description for logs and CLI output, without credentials. */
export function describeStore(config: Pick<Config, 'store'>): string {
  if (!config.store.postgres) return `sqlite ${config.store.sqlite ?? ''}`;
  try {
    const u = new URL(config.store.postgres.url);
    return `postgres ${u.hostname}${u.port ? `:${u.port}` : ''}${u.pathname}`;
  } catch {
    return 'postgres';
  }
}
