/**
 * The server secret: 32 random bytes, created on first start with mode 0600. Every key mailgate
 * uses (passcode tags, cache keys, TOTP encryption) is derived from it; losing it invalidates all
 * passcodes, so back it up with the database.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export function loadOrCreateSecret(file: string): Buffer {
  try {
    const text = readFileSync(file, 'utf8').trim();
    const mode = statSync(file).mode & 0o777;
    if (mode & 0o077) chmodSync(file, 0o600); // tighten a copied file rather than refuse to start
    const secret = Buffer.from(text, 'base64');
    if (secret.length < 32) throw new Error(`the server secret in ${file} is too short (need 32 bytes, base64)`);
    return secret;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const secret = randomBytes(32);
  // 'wx': never overwrite a secret another process created a moment ago.
  try {
    writeFileSync(file, `${secret.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return loadOrCreateSecret(file);
    throw e;
  }
  return secret;
}
