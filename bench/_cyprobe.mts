import net from 'node:net';
import { startCyrus } from '../src/demo/cyrus.js';
const c = await startCyrus({});
const b64 = (a: string, u: string, p: string) => Buffer.from(`${a}\0${u}\0${p}`).toString('base64');
async function once(line: string): Promise<string> {
  return new Promise((res) => {
    const s = net.connect(c.pop3Port, '127.0.0.1');
    let buf = '';
    let sent = false;
    const t = setTimeout(() => {
      res(`TIMEOUT ${JSON.stringify(buf)}`);
      s.destroy();
    }, 15000);
    s.on('data', (d) => {
      buf += d.toString();
      const lines = buf.split('\r\n');
      if (!sent && lines.length > 1) {
        sent = true;
        s.write(`${line}\r\n`);
        return;
      }
      if (sent && lines.length > 2) {
        clearTimeout(t);
        res(lines[1]!);
        s.destroy();
      }
    });
    s.on('error', (e) => {
      clearTimeout(t);
      res(`ERR ${e.message}`);
    });
  });
}
const counts: Record<string, number> = {};
const N = Number(process.argv[2] ?? 100);
for (let i = 0; i < N; i++) {
  const r = await Promise.all([
    once(`AUTH PLAIN ${b64('dave@example.com', c.master.user, c.master.password)}`),
    once(`AUTH PLAIN ${b64('', 'erin@example.com', 'some-password')}`),
  ]);
  for (const [k, x] of [
    ['dave', r[0]],
    ['erin', r[1]],
  ])
    counts[`${k}: ${x}`] = (counts[`${k}: ${x}`] ?? 0) + 1;
}
console.log(counts);
await c.stop();
process.exit(0);
