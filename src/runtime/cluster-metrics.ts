/**
 * One /metrics for a cluster: the supervisor asks every live worker for its registry over IPC and
 * adds them up with its own (prom-client's AggregatorRegistry: counters and histograms summed,
 * process gauges as prom-client declares them). A scrape answered by whichever worker the
 * connection landed on would show a fraction of the service; this one shows all of it.
 */
import { AggregatorRegistry, type MetricObjectWithValues, type MetricValue, type Registry } from 'prom-client';

/** A worker as the gatherer needs it (cluster.Worker). */
export interface MetricsSource {
  send(m: { mg: 'metrics-req'; id: number }): unknown;
}

type Json = MetricObjectWithValues<MetricValue<string>>[];

/** Time a scrape waits for the workers; a worker that does not answer is left out of that scrape. */
const SCRAPE_TIMEOUT_MS = 2_000;

export class MetricsGatherer {
  private nextId = 1;
  private readonly pending = new Map<number, { left: number; got: Json[]; done: () => void }>();

  constructor(
    private readonly workers: () => MetricsSource[],
    private readonly timeoutMs = SCRAPE_TIMEOUT_MS,
  ) {}

  /** Feeds a worker message; true when it was a metrics answer. */
  handle(m: unknown): boolean {
    const msg = m as { mg?: unknown; id?: unknown; metrics?: unknown };
    if (msg?.mg !== 'metrics-res') return false;
    const p = typeof msg.id === 'number' ? this.pending.get(msg.id) : undefined;
    if (p && Array.isArray(msg.metrics)) {
      p.got.push(msg.metrics as Json);
      if (--p.left <= 0) p.done();
    }
    return true;
  }

  /** The Prometheus text of `own` added to every worker's registry. */
  async scrape(own: Registry): Promise<string> {
    const id = this.nextId++;
    const workers = this.workers();
    const got: Json[] = [];
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, this.timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve();
      };
      this.pending.set(id, { left: workers.length, got, done });
      if (!workers.length) done();
      for (const w of workers) {
        try {
          w.send({ mg: 'metrics-req', id });
        } catch {
          // a worker that just died: the scrape goes on without it
        }
      }
    });
    this.pending.delete(id);
    return AggregatorRegistry.aggregate([await own.getMetricsAsJSON(), ...got]).metrics();
  }
}
