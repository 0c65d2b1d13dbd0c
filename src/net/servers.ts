/** Shutdown plumbing shared by the listeners of every front. */
import type { Server } from 'node:net';

/**
 * Returns stopAccepting(): the first call closes every server — listening stops at once — and
 * the promise it returns settles when their last connection has ended (net.Server.close()).
 */
export function closer(servers: readonly Server[]): () => Promise<void> {
  let closing: Promise<void> | null = null;
  return () => {
    closing ??= Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r())))).then(() => {});
    return closing;
  };
}
