/**
 * Result rows and their presentation: a Markdown table for people (and bench/RESULTS.md) and
 * JSON for machines (`--json`).
 */

export type Compare = 'ratio' | 'delta' | 'none';

export interface Row {
  section: string;
  metric: string;
  unit: string;
  direct: number | null;
  mailgate: number | null;
  /** nginx's mail proxy, where it was measured (optional third path). */
  nginx?: number | null;
  /** ratio: mailgate/direct (throughput); delta: mailgate − direct (latency); none: mailgate alone. */
  compare: Compare;
  /** Human-readable target, e.g. "≥ 0.75x" or "≤ 1 ms added". */
  target?: string;
  /** Whether the target is met (null: not measurable here). */
  pass?: boolean | null;
  note?: string;
  /** The per-round values the medians come from. */
  rounds?: { direct: number[]; mailgate: number[]; nginx?: number[] };
}

export interface Report {
  startedAt: string;
  command: string;
  mode: 'quick' | 'full';
  rounds: number;
  machine: Record<string, string>;
  setup: Record<string, string | number | boolean>;
  rows: Row[];
  profiles?: Array<{ label: string; file: string; busyMs: number; io?: string; top: Array<{ fn: string; selfPct: number }> }>;
}

function fmt(v: number | null, unit: string): string {
  if (v === null || !Number.isFinite(v)) return '–';
  const abs = Math.abs(v);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? 2 : 3;
  return `${v.toFixed(digits)}${unit ? ` ${unit}` : ''}`;
}

/** mailgate (or `value`) against direct, as a ratio or a difference. */
export function comparison(r: Row, value: number | null | undefined = r.mailgate): string {
  if (
    r.compare === 'none' ||
    r.direct === null ||
    value === null ||
    value === undefined ||
    !Number.isFinite(r.direct) ||
    !Number.isFinite(value)
  )
    return '';
  if (r.compare === 'ratio') return r.direct === 0 ? '' : `${(value / r.direct).toFixed(2)}x`;
  const d = value - r.direct;
  return `${d >= 0 ? '+' : ''}${fmt(d, r.unit)}`;
}

const cell = (s: string): string => s.replace(/\|/g, '\\|');

/** The results table in Markdown (with nginx columns when any row has an nginx figure). */
export function markdownTable(rows: readonly Row[]): string {
  const ng = rows.some((r) => r.nginx !== undefined && r.nginx !== null);
  const out = [
    `| section | metric | direct | mailgate | mailgate vs direct | target | met |${ng ? ' nginx | nginx vs direct |' : ''}`,
    `|---|---|--:|--:|--:|---|:-:|${ng ? '--:|--:|' : ''}`,
  ];
  for (const r of rows) {
    const met = r.pass === undefined || r.pass === null ? '' : r.pass ? 'yes' : '**no**';
    const metric = r.note ? `${r.metric} (${r.note})` : r.metric;
    const extra = ng ? ` ${r.nginx === undefined ? '' : fmt(r.nginx, r.unit)} | ${comparison(r, r.nginx ?? null)} |` : '';
    out.push(
      `| ${cell(r.section)} | ${cell(metric)} | ${fmt(r.direct, r.unit)} | ${fmt(r.mailgate, r.unit)} | ${comparison(r)} | ${cell(r.target ?? '')} | ${met} |${extra}`,
    );
  }
  return out.join('\n');
}

/** Full human-readable report: header with the machine and setup, then the table. */
export function markdownReport(rep: Report): string {
  const lines = [
    `Run ${rep.startedAt} (${rep.mode}, ${rep.rounds} round(s), medians across rounds): \`${rep.command}\``,
    '',
    ...Object.entries(rep.machine).map(([k, v]) => `- ${k}: ${v}`),
    ...Object.entries(rep.setup).map(([k, v]) => `- ${k}: ${String(v)}`),
    '',
    markdownTable(rep.rows),
  ];
  for (const p of rep.profiles ?? []) {
    lines.push(
      '',
      `CPU profile of the gate, ${p.label} (${p.file}; main thread ${p.busyMs.toFixed(0)} ms busy)${p.io ? `: ${p.io}` : ''}. Top self time:`,
      '',
    );
    for (const t of p.top) lines.push(`- ${t.selfPct.toFixed(1)}% ${t.fn}`);
  }
  return lines.join('\n');
}

export function jsonReport(rep: Report): string {
  return JSON.stringify(rep, null, 2);
}
