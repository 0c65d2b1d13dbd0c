/**
 * The PostgreSQL side of the rollout tables: would-break observations and the notices sent. Same
 * statements as sqlite/rollout.ts in PostgreSQL's dialect; the upsert and the notice mark are each
 * one statement, so concurrent instances neither lose a count nor send two notices.
 */
import type { ObservationRow, Protocol } from '../types.js';
import { type ObservationRecord, toObservation } from '../sqlite/rollout.js';
import type { Query } from './twofactor.js';

export class PgRollout {
  constructor(private readonly q: Query) {}

  async record(o: { username: string; protocol: Protocol; client: string | null; ip: string; at: number }): Promise<void> {
    await this.q(
      `INSERT INTO rollout_observations (username, protocol, client, ip, first_seen, last_seen, count) VALUES ($1, $2, $3, $4, $5, $5, 1)
       ON CONFLICT (username, protocol, client, ip) DO UPDATE SET
         first_seen = LEAST(rollout_observations.first_seen, EXCLUDED.first_seen),
         last_seen = GREATEST(rollout_observations.last_seen, EXCLUDED.last_seen), count = rollout_observations.count + 1`,
      [o.username, o.protocol, o.client ?? '', o.ip, o.at],
    );
  }

  async list(username?: string): Promise<ObservationRow[]> {
    // COLLATE "C": byte order, as sqlite sorts, whatever the database's locale.
    const r =
      username === undefined
        ? await this.q<ObservationRecord>('SELECT * FROM rollout_observations ORDER BY username COLLATE "C", last_seen DESC, first_seen')
        : await this.q<ObservationRecord>('SELECT * FROM rollout_observations WHERE username = $1 ORDER BY last_seen DESC, first_seen', [
            username,
          ]);
    return r.rows.map(toObservation);
  }

  async mark(username: string, at: number): Promise<boolean> {
    const r = await this.q('INSERT INTO rollout_notices (username, sent_at) VALUES ($1, $2) ON CONFLICT (username) DO NOTHING', [
      username,
      at,
    ]);
    return r.rowCount === 1;
  }
}
