/**
 * Summarises a V8 .cpuprofile (from the gate process's `prof-start`/`prof-stop`): self time per
 * function, as a share of the time the main thread was busy (idle samples excluded).
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface Hotspot {
  fn: string;
  selfPct: number;
}

export function topFunctions(file: string, n = 15): { busyMs: number; idleMs: number; top: Hotspot[] } {
  const prof = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(prof.nodes.map((nd) => [nd.id, nd]));
  // Samples inside the inspector's own calls (Profiler.start/stop from the control channel) are
  // the measurement, not the gate: leave them out.
  const parent = new Map<number, number>();
  for (const nd of prof.nodes) for (const c of nd.children ?? []) parent.set(c, nd.id);
  const inInspector = (id: number): boolean => {
    for (let x: number | undefined = id; x !== undefined; x = parent.get(x))
      if (byId.get(x)?.callFrame.url === 'node:inspector') return true;
    return false;
  };
  const self = new Map<string, number>();
  let idle = 0;
  let busy = 0;
  for (let i = 0; i < prof.samples.length; i++) {
    const node = byId.get(prof.samples[i]!);
    const dt = prof.timeDeltas[i] ?? 0;
    if (!node || inInspector(node.id)) continue;
    const cf = node.callFrame;
    if (cf.functionName === '(idle)') {
      idle += dt;
      continue;
    }
    busy += dt;
    const where = cf.url
      ? ` ${cf.url.replace(/^.*\/(node_modules\/|src\/|bench\/)/, '$1').replace(/^node:/, 'node:')}:${cf.lineNumber + 1}`
      : '';
    const key = `${cf.functionName || '(anonymous)'}${where}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  const top = [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([fn, t]) => ({ fn, selfPct: busy ? (100 * t) / busy : 0 }));
  return { busyMs: busy / 1000, idleMs: idle / 1000, top };
}
