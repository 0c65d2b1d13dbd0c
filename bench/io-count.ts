/**
 * Diagnostics for the gate process: counts socket reads (chunks pushed into a Socket) and writes
 * (calls into the stream handle) with their sizes, to show how the splice batches its I/O.
 * Installed only on demand (`io-start` on the gate's control channel); a wrapper around two
 * Socket methods, never loaded by mailgate itself.
 */
import { Socket } from 'node:net';

export interface IoCounts {
  reads: number;
  readBytes: number;
  writes: number;
  writeBytes: number;
  writevs: number;
}

const counts: IoCounts = { reads: 0, readBytes: 0, writes: 0, writeBytes: 0, writevs: 0 };
let counting = false;
let installed = false;

type WriteGeneric = (writev: boolean, data: unknown, encoding: string, cb: (e?: Error) => void) => unknown;
type Push = (chunk: unknown, encoding?: BufferEncoding) => boolean;

function size(x: unknown): number {
  if (Buffer.isBuffer(x) || typeof x === 'string') return x.length;
  if (x && typeof x === 'object' && 'chunk' in x) return size((x as { chunk: unknown }).chunk);
  return 0;
}

function install(): void {
  if (installed) return;
  installed = true;
  const proto = Socket.prototype as unknown as { _writeGeneric: WriteGeneric; push: Push };
  const writeGeneric = proto._writeGeneric;
  proto._writeGeneric = function (this: Socket, writev, data, encoding, cb) {
    if (counting) {
      counts.writes++;
      if (writev && Array.isArray(data)) {
        counts.writevs++;
        for (const d of data) counts.writeBytes += size(d);
      } else counts.writeBytes += size(data);
    }
    return writeGeneric.call(this, writev, data, encoding, cb);
  };
  const push = proto.push;
  proto.push = function (this: Socket, chunk, encoding) {
    if (counting && chunk !== null) {
      counts.reads++;
      counts.readBytes += size(chunk);
    }
    return push.call(this, chunk, encoding);
  };
}

export function startCounting(): void {
  install();
  Object.assign(counts, { reads: 0, readBytes: 0, writes: 0, writeBytes: 0, writevs: 0 });
  counting = true;
}

export function stopCounting(): IoCounts {
  counting = false;
  return { ...counts };
}
