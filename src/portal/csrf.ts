/**
 * CSRF protection. A signed-in session carries a random synchronizer token (stored server-side
 * with the session) that every form echoes. Before sign-in there is no session, and creating one
 * per anonymous page view would let anyone fill the table, so the sign-in form uses a signed
 * double-submit token instead: a random nonce in a cookie, and HMAC(process key, nonce) in the form.
 * SameSite=Strict cookies are a second, independent layer.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Constant-time string equality (hashing first makes the lengths equal). */
export function sameSecret(a: string, b: string): boolean {
  const h = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(h(a), h(b));
}

export class PreSessionCsrf {
  /**
   * The portal passes a key derived from the server secret, so a form served by one instance
   * behind a load balancer is accepted by another (and survives a restart); tests may omit it.
   */
  constructor(private readonly key: Buffer = randomBytes(32)) {}

  newNonce(): string {
    return randomBytes(18).toString('base64url');
  }

  token(nonce: string): string {
    return createHmac('sha256', this.key).update(`signin\u0000${nonce}`).digest('base64url');
  }

  check(nonce: string | undefined, token: string | null): boolean {
    if (!nonce || !token) return false;
    return sameSecret(this.token(nonce), token);
  }
}
