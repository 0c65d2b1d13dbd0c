/**
 * The building blocks of the configuration schema (schema.ts): value kinds with the messages an
 * admin reads ("expected a duration like 30s, got …"), mappings that name an unknown key and the
 * closest known one, and secrets read from `key`, `key_env` or `key_file`. A YAML key left empty
 * (null) means the same as a key left out: its default.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';

/** Where relative paths resolve and `*_env` secrets come from. */
export interface LoadContext {
  baseDir: string;
  env: NodeJS.ProcessEnv;
}

type Ctx = z.RefinementCtx;

/** A value checked by `read` (undefined: wrong), `def` when absent; the issue says what was expected. */
export function field<T>(def: T, read: (v: unknown, ctx: Ctx) => T | undefined, expected: (v: unknown) => string) {
  return z
    .unknown()
    .optional()
    .transform((v, ctx): T => {
      if (v === undefined || v === null) return def;
      const out = read(v, ctx);
      if (out === undefined) {
        ctx.addIssue({ code: 'custom', message: expected(v) });
        return z.NEVER;
      }
      return out;
    });
}

const show = (v: unknown) => JSON.stringify(v);

/** A string (a YAML number is taken as written: `user: 123`). */
export const str = <D extends string | null>(def: D) =>
  field<string | D>(
    def,
    (v) => (typeof v === 'string' || typeof v === 'number' ? String(v) : undefined),
    () => 'expected a string',
  );

export const bool = (def: boolean) =>
  field(
    def,
    (v) => (typeof v === 'boolean' ? v : undefined),
    () => 'expected true or false',
  );

/** A whole number in [min, max]; a `null` default makes the key optional (null when unset). */
export const int = <D extends number | null>(def: D, min: number, max: number) =>
  field<number | D>(
    def,
    (v) => (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? v : undefined),
    (v) => `expected a whole number from ${min} to ${max}, got ${show(v)}`,
  );

export function oneOf<const T extends readonly string[]>(values: T, def: T[number]) {
  return field<T[number]>(
    def,
    (v) => (values.includes(v as string) ? (v as T[number]) : undefined),
    (v) => `expected one of ${values.join(', ')}, got ${show(v)}`,
  );
}

/** Durations: a number of seconds or "500ms", "90s", "5m", "12h", "90d"; in milliseconds. */
export function parseDuration(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v * 1000;
  if (typeof v !== 'string') return null;
  const m = /^\s*(\d+)\s*(ms|s|m|h|d)?\s*$/.exec(v);
  if (!m) return null;
  const unit = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

/** A duration in milliseconds; `min` with its own words ("expected at least 1d"). */
export function duration<D extends number | null>(defMs: D, min?: { ms: number; message: string }) {
  return field<number | D>(
    defMs,
    (v, ctx) => {
      const ms = parseDuration(v);
      if (ms !== null && min && ms < min.ms) {
        ctx.addIssue({ code: 'custom', message: min.message });
        return z.NEVER;
      }
      return ms ?? undefined;
    },
    (v) => `expected a duration like 500ms, 30s, 5m, 12h or 90d, got ${show(v)}`,
  );
}

/** A file path, resolved against the configuration file's folder. */
export const path = (ctx: LoadContext, def: string) => str(def).transform((p) => (isAbsolute(p) ? p : resolve(ctx.baseDir, p)));

/** A list of CIDR networks; a bare address means just that host. */
export const cidrList = () =>
  z
    .unknown()
    .optional()
    .transform((value, ctx): string[] => {
      if (value === undefined || value === null) return [];
      if (!Array.isArray(value)) {
        ctx.addIssue({ code: 'custom', message: 'expected a list of CIDR networks' });
        return z.NEVER;
      }
      const out: string[] = [];
      for (const [i, n] of value.entries()) {
        const s = String(n);
        const [addr, bits] = s.split('/');
        const fam = isIP(addr ?? '');
        const max = fam === 6 ? 128 : 32;
        if (fam === 0 || (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= max))) {
          ctx.addIssue({ code: 'custom', path: [i], message: `expected a network like 10.0.0.5/32, got ${show(s)}` });
        } else out.push(bits === undefined ? `${addr}/${max}` : s);
      }
      return out;
    });

/** The known key closest to `key` (edit distance at most a third of its length), if any. */
export function closest(key: string, known: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Math.max(2, Math.floor(key.length / 3)) + 1;
  for (const k of known) {
    const d = editDistance(key.toLowerCase(), k);
    if (d < bestD) {
      best = k;
      bestD = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

/**
 * Marks an unknown-key message: zod reports all unknown keys of a mapping in one issue, and
 * load.ts splits it into one problem per key path ("imap.hostname: unknown key …").
 */
export const UNKNOWN_KEY_SEPARATOR = '\u0000';

/** A mapping of exactly these keys; an absent or empty one reads as {} (every key's default). */
export function section<S extends z.ZodRawShape>(shape: S) {
  const known = Object.keys(shape);
  const obj = z.strictObject(shape, {
    error: (iss) => {
      if (iss.code === 'unrecognized_keys') {
        return iss.keys
          .map((k) => {
            const near = closest(k, known);
            return `${k}${UNKNOWN_KEY_SEPARATOR}unknown key (${near ? `did you mean ${near}? ` : ''}allowed: ${known.join(', ')})`;
          })
          .join('\n');
      }
      if (iss.code === 'invalid_type') return 'expected a mapping';
      return undefined;
    },
  });
  return z.preprocess((v) => v ?? {}, obj);
}

/** An optional part (imap, smtp, portal …): null when absent or empty. */
export function optionalSection<T extends z.ZodType>(schema: T) {
  return z.preprocess((v) => v ?? undefined, schema.optional()).transform((v) => v ?? null);
}

/**
 * A secret given as `key` (inline), `key_env` (an environment variable) or `key_file` (a file's
 * contents, trimmed): at most one. null when none is set — or, `optional`, when the variable is unset.
 * Problems name the key that was given; a secret's value never appears in a message.
 */
export function readSecret(o: Record<string, unknown>, key: string, lc: LoadContext, ctx: Ctx, optional = false): string | null {
  const given = (k: string) => (typeof o[k] === 'string' ? (o[k] as string) : null);
  const inline = given(key);
  const envName = given(`${key}_env`);
  const file = given(`${key}_file`);
  if ([inline, envName, file].filter((x) => x !== null).length > 1) {
    ctx.addIssue({ code: 'custom', path: [key], message: `set only one of ${key}, ${key}_env, ${key}_file` });
    return null;
  }
  if (inline !== null) return inline;
  if (envName !== null) {
    const v = lc.env[envName];
    if (v === undefined || v === '') {
      if (!optional) ctx.addIssue({ code: 'custom', path: [`${key}_env`], message: `environment variable ${envName} is not set` });
      return null;
    }
    return v;
  }
  if (file === null) return null;
  try {
    return readFileSync(isAbsolute(file) ? file : resolve(lc.baseDir, file), 'utf8').trim();
  } catch (e) {
    ctx.addIssue({ code: 'custom', path: [`${key}_file`], message: `cannot read ${file}: ${(e as Error).message}` });
    return null;
  }
}

/** The three keys of a secret, for a section's shape. */
export const secretKeys = <K extends string>(key: K) =>
  ({ [key]: str(null), [`${key}_env`]: str(null), [`${key}_file`]: str(null) }) as Record<
    K | `${K}_env` | `${K}_file`,
    ReturnType<typeof str<null>>
  >;
