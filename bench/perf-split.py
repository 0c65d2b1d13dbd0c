"""
Splits a `perf record -g` profile of the gate process by who is on the stack: each sample goes to the
innermost mailgate area among its frames (session/line reader, upstream dialogue, policy + store,
handoff + splice, logging, IMAP parsing), else to V8's compiler, GC, or "no mailgate frame" (Node,
libuv, kernel). CPU-true, unlike the V8 inspector's wall-clock samples. Needs JS frame names:

  MAILGATE_BENCH_NODE_FLAGS=--perf-basic-prof npm run bench -- --quick --rounds 3 --only logins &
  perf record -F 2999 -g -p "$(pgrep -f gate-process.ts | head -1)" -o gate.data -- sleep 4
  python3 bench/perf-split.py gate.data
"""
import subprocess, sys, re, collections
data = sys.argv[1]
out = subprocess.run(['perf','script','-i',data,'-F','tid,ip,sym,dso'], capture_output=True, text=True).stdout
cats = [
  ('logging', re.compile(r'pino|sonic-boom|@pinojs|runtime/logger')),
  ('policy+store', re.compile(r'/core/|/store/|lru-cache|better-sqlite3|better_sqlite3')),
  ('imap parse (client cmd)', re.compile(r'imap/wire\.js|emailjs-imap-handler|commands/')),
  ('upstream dialogue', re.compile(r'imap/upstream\.js|imap/upstream-info\.js|imap/adapter\.js|net/pool\.js|net/upstream\.js|imap/family\.js|imap/capabilities')),
  ('handoff+splice', re.compile(r'front/handoff\.js|net/splice\.js|net/reads\.js|compress-watch')),
  ('session/conn/listener', re.compile(r'imap/session\.js|front/conn\.js|front/listener\.js|imap/listener\.js|front/login\.js|front/lines|front/session-id|net/proxied')),
  ('floor proxy code', re.compile(r'login-floor')),
]
samples = out.split('\n\n')
tot = collections.Counter(); ker = collections.Counter(); n = 0
tids = collections.Counter()
for s in samples:
    lines = [l for l in s.strip().split('\n') if l.strip()]
    if not lines: continue
    head = lines[0].split()
    tid = head[0]
    frames = lines[1:] if len(lines) > 1 else [' '.join(head[1:])]
    n += 1
    tids[tid] += 1
    cat = None
    for f in frames:
        for c, rx in cats:
            if rx.search(f): cat = c; break
        if cat: break
    if not cat:
        txt = ' '.join(frames)
        if re.search(r'compiler::|Compile|Turbofan|Maglev', txt): cat = 'v8 compiler'
        elif re.search(r'Scaveng|Heap|MarkCompact|ConcurrentMarking|Sweep|Evacuat|GC', txt): cat = 'GC'
        elif re.search(r'inspector|gate-process', txt): cat = 'profiler'
        else: cat = 'node/libuv/kernel, no mailgate frame'
    # Kernel time (the leaf frame in the kernel: system calls, loopback TCP) is told apart, because a
    # category's share includes the system calls its code makes (socket writes under the session…).
    kernel = 'kernel' in frames[0]
    tot[cat] += 1
    ker[cat] += kernel
print('samples', n, 'threads', tids.most_common(3))
print('  all kernel  area')
for c, k in tot.most_common(): print(f'{100*k/n:5.1f} {100*ker[c]/n:5.1f}  {c}')
