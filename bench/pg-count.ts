/**
 * Diagnostics for the gate process: counts the PostgreSQL statements it sends (every
 * pg.Client#query, so a pool's query, BEGIN and COMMIT each count), grouped by their first words.
 * Installed only on demand (`pg-start` on the gate's control channel), like io-count.ts. The SQL
 * text is parameterised, so it holds no secret; only its first words are kept.
 */
import pg from 'pg';

const counts = new Map<string, number>();
let counting = false;
let installed = false;

function install(): void {
  if (installed) return;
  installed = true;
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const query = proto.query;
  proto.query = function (this: unknown, ...args: unknown[]) {
    if (counting) {
      const q = args[0];
      const text = typeof q === 'string' ? q : ((q as { text?: string } | undefined)?.text ?? '?');
      const key = text.trim().replace(/\s+/g, ' ').slice(0, 48);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return query.apply(this, args);
  };
}

/** Starts counting from zero. */
export function startPgCounting(): void {
  install();
  counts.clear();
  counting = true;
}

/** Stops counting; the total and the counts per statement, most frequent first. */
export function stopPgCounting(): { statements: number; byText: Array<[string, number]> } {
  counting = false;
  const byText = [...counts].sort((a, b) => b[1] - a[1]);
  return { statements: byText.reduce((a, [, n]) => a + n, 0), byText };
}
