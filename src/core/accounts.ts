/** Account names: one normalised key per mailbox, whatever case the mail app typed. */

const MAX_USER_BYTES = 255;

/**
 * The account key used for policy and storage: trimmed and lower-cased. Returns null for input
 * no mail server would accept (empty, too long, control characters) so the core can reject it
 * without touching the store.
 */
export function accountKey(user: string): string | null {
  const u = user.trim().toLowerCase();
  if (u === '' || Buffer.byteLength(u) > MAX_USER_BYTES) return null;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(u)) return null;
  return u;
}

/** The domain part of an account key ('' when there is none). */
export function domainOf(account: string): string {
  const at = account.lastIndexOf('@');
  return at < 0 ? '' : account.slice(at + 1);
}
