/**
 * The sqlite side of the rollout tables (schema version 5): would-break observations and the
 * notices sent. Kept apart from index.ts like twofactor.ts; SqliteStore delegates to it.
 */
import type { Database as Db } from 'better-sqlite3';
import type { ObservationRow, Protocol } from '../types.js';

export interface ObservationRecord {
  username: string;
  protocol: string;
  client: string;
  ip: string;
  first_seen: number;
  last_seen: number;
  count: number;
}

/** A stored record as the Store returns it ('' is "no client name", see the migration). */
export const toObservation = (r: ObservationRecord): ObservationRow => ({
  username: r.username,
  protocol: r.protocol as Protocol,
  client: r.client === '' ? null : r.client,
  ip: r.ip,
  firstSeen: r.first_seen,
  lastSeen: r.last_seen,
  count: r.count,
});

export class RolloutTables {
  private readonly s;
  constructor(db: Db) {
    const p = <T>(sql: string) => db.prepare<unknown[], T>(sql);
    this.s = {
      // One statement: two logins counted at once both count (no read-modify-write).
      record: p(
        `INSERT INTO rollout_observations (username, protocol, client, ip, first_seen, last_seen, count) VALUES (?, ?, ?, ?, ?, ?, 1)
         ON CONFLICT (username, protocol, client, ip) DO UPDATE SET
           first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen), count = count + 1`,
      ),
      listOne: p<ObservationRecord>('SELECT * FROM rollout_observations WHERE username = ? ORDER BY last_seen DESC, first_seen'),
      listAll: p<ObservationRecord>('SELECT * FROM rollout_observations ORDER BY username, last_seen DESC, first_seen'),
      mark: p('INSERT INTO rollout_notices (username, sent_at) VALUES (?, ?) ON CONFLICT (username) DO NOTHING'),
    };
  }

  record(o: { username: string; protocol: Protocol; client: string | null; ip: string; at: number }): void {
    this.s.record.run(o.username, o.protocol, o.client ?? '', o.ip, o.at, o.at);
  }

  list(username?: string): ObservationRow[] {
    return (username === undefined ? this.s.listAll.all() : this.s.listOne.all(username)).map(toObservation);
  }

  mark(username: string, at: number): boolean {
    return this.s.mark.run(username, at).changes === 1;
  }
}
