/**
 * COMPRESS spotted in what the client sends, whole or split across chunks however they fall, and
 * not where it is not.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { expect, it } from 'vitest';
import { CompressWatch } from './compress-watch.js';

/** Feeds `chunks` as the client's data events; the watcher's verdict. */
function feed(pipelined: string, chunks: string[]): boolean {
  const client = new EventEmitter() as unknown as Socket;
  const w = new CompressWatch();
  w.watch(client, Buffer.from(pipelined));
  for (const c of chunks) client.emit('data', Buffer.from(c));
  return w.seen;
}

it('sees COMPRESS in the pipelined bytes, in one chunk, and split at every position', () => {
  const cmd = 'a1 NOOP\r\na2 COMPRESS DEFLATE\r\n';
  expect(feed(cmd, [])).toBe(true);
  expect(feed('', [cmd])).toBe(true);
  for (let i = 1; i < cmd.length; i++) expect(feed('', [cmd.slice(0, i), cmd.slice(i)]), `split at ${i}`).toBe(true);
  // One byte at a time: the seam is never more than a byte of new data.
  expect(feed('', [...cmd])).toBe(true);
  expect(feed('', ['a2 compress', ' deflate\r\n'])).toBe(true);
});

it('does not see it where it is not', () => {
  expect(feed('', ['a1 NOOP\r\n', 'a2 COMPRESS\r\n', ' DEFLATE x'])).toBe(false); // a line break in between
  expect(feed('', ['a1 APPEND INBOX {5}\r\n', 'hello', '\r\na2 IDLE\r\n'])).toBe(false);
  expect(feed('a1 COMPRESS', ['x DEFLATE'])).toBe(false);
});
