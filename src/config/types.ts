/**
 * The typed, frozen configuration every part of mailgate receives (never a global). Inferred from
 * the one schema (schema.ts): a key is added there, with its default and check, and nowhere else.
 */
import type { z } from 'zod';
import type { configSchema } from './schema.js';

export type Config = z.output<ReturnType<typeof configSchema>>;

/** An IMAP or POP3 section (listeners and the upstream); smtp adds `hostname`. */
export type ProtocolConfig = NonNullable<Config['imap']>;
export type ListenConfig = ProtocolConfig['listen'][number];
/** starttls: clear until STARTTLS; implicit: TLS from the first byte; none: never TLS (tests, behind a TLS terminator). */
export type TlsMode = ListenConfig['tls'];
export type UpstreamConfig = ProtocolConfig['upstream'];
/** How mailgate logs in to the upstream on a user's behalf after it accepted a passcode. */
export type UpstreamAuth = UpstreamConfig['auth'];
export type PolicyConfig = Config['policy'];
export type AuthTuning = Config['auth'];
export type Limits = Config['limits'];
/** A PostgreSQL store shared by several mailgate instances. */
export type PostgresConfig = NonNullable<Config['store']['postgres']>;
