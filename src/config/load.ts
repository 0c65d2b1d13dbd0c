/**
 * Loads the YAML configuration once, validates it against the one schema (schema.ts) and returns
 * a frozen Config. All problems are collected and reported together, each with its key path, so
 * an admin can fix the file in one go. Secrets may be given inline, via `*_env` (environment
 * variable) or `*_file` (file contents, trimmed).
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { UNKNOWN_KEY_SEPARATOR } from './fields.js';
import { configSchema, crossChecks } from './schema.js';
import type { Config } from './types.js';

export { parseDuration } from './fields.js';

export class ConfigError extends Error {
  constructor(
    readonly problems: string[],
    file: string | null,
  ) {
    super(`invalid configuration${file ? ` in ${file}` : ''}:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** "imap.listen[0].port"; the document itself is "(top)". */
function keyPath(path: readonly PropertyKey[]): string {
  const s = path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`)).join('');
  return s || '(top)';
}

/** One line per problem; zod's one issue for all unknown keys of a mapping becomes one per key. */
function problemsOf(issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.flatMap((i) => {
    if (i.code !== 'unrecognized_keys') return [`${keyPath(i.path)}: ${i.message}`];
    return i.message.split('\n').map((line) => {
      const [key = '', text = line] = line.split(UNKNOWN_KEY_SEPARATOR);
      return `${keyPath([...i.path, key])}: ${text}`;
    });
  });
}

/** Validates an already-parsed YAML document. `file` is used to resolve relative paths. */
export function buildConfig(doc: unknown, file: string | null, env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  const baseDir = file ? dirname(resolve(file)) : process.cwd();
  const isMapping = typeof doc === 'object' && doc !== null && !Array.isArray(doc);
  const parsed = configSchema({ baseDir, env }, file ? resolve(file) : null).safeParse(isMapping ? doc : {});
  const problems = [
    ...(isMapping ? [] : ['(top): the configuration must be a YAML mapping']),
    ...(parsed.success ? [] : problemsOf(parsed.error.issues)),
    ...crossChecks(isMapping ? (doc as Record<string, unknown>) : {}),
  ];
  if (problems.length || !parsed.success) throw new ConfigError(problems, file);
  return deepFreeze(parsed.data);
}

/** Reads and validates a YAML config file. */
export function loadConfig(file: string, env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError([`cannot read the configuration file: ${(e as Error).message}`], file);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new ConfigError([`not valid YAML: ${(e as Error).message}`], file);
  }
  return buildConfig(doc, file, env);
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
