/**
 * Leader election on a `coordination.k8s.io/v1` Lease, as client-go's leaderelection does it:
 * the holder renews the Lease every `retryPeriod`; the others watch it and take it over once
 * it has not changed for `leaseDuration` by their own clock (never by comparing clocks with
 * the holder's), with the resourceVersion as the lock (a conflict means another won). A
 * leader that could not renew for `renewDeadline` (counted from the start of its last
 * successful renewal) stops leading at once, by a timer, whatever its requests are doing: it
 * is done before any other agent may take over (`renewDeadline` < `leaseDuration`). A leader
 * that stops on purpose releases the Lease, so that another takes over at its next try.
 *
 * @module
 */
import { errorMessage } from "../errors.ts";
import { KubeApiError, type KubeClient } from "../kube/mod.ts";
import type { Logger } from "../log.ts";
import { sleep } from "../pool.ts";

/** Options of {@linkcode LeaderElector}. */
export interface LeaderElectorOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  /** This agent's name in the Lease's `holderIdentity`. */
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  log?: Logger;
  /** Told when this agent starts or stops leading. */
  onChange?: (leading: boolean) => void;
}

interface LeaseRecord {
  metadata?: { resourceVersion?: string };
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

/** Kubernetes MicroTime: RFC 3339 with microseconds. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/**
 * Competes for the Lease and runs `lead` while it holds it.
 *
 * @example Usage
 * ```ts ignore
 * const elector = new LeaderElector({ client, namespace: "agent-system", name: "agent-platform",
 *   identity: "node-1_ab12", leaseDurationMs: 15000, renewDeadlineMs: 10000, retryPeriodMs: 2000 });
 * await elector.run(signal, async (leading) => { await stream(leading); });
 * ```
 */
export class LeaderElector {
  #leading = false;
  #observed: { key: string; at: number } | undefined;
  #holder = "";

  /** Creates an elector; {@linkcode run} starts it. */
  constructor(private readonly options: LeaderElectorOptions) {
    if (!(options.renewDeadlineMs < options.leaseDurationMs)) {
      throw new RangeError("renewDeadline must be shorter than leaseDuration");
    }
  }

  /** Whether this agent leads now. */
  get leading(): boolean {
    return this.#leading;
  }

  /** The Lease's holder as last read ("" when none). */
  get holder(): string {
    return this.#holder;
  }

  get #path(): string {
    const o = this.options;
    return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(o.namespace)}/leases/${
      encodeURIComponent(o.name)
    }`;
  }

  /**
   * Competes until `signal` aborts, running `lead(leading)` for each term it wins; `leading`
   * aborts the moment the term ends. On abort, a held Lease is released.
   */
  async run(signal: AbortSignal, lead: (leading: AbortSignal) => Promise<void>): Promise<void> {
    const o = this.options;
    while (!signal.aborted) {
      const started = performance.now();
      if (!(await this.#tryAcquireOrRenew(signal, o.retryPeriodMs))) {
        await sleep(jitter(o.retryPeriodMs), signal);
        continue;
      }
      await this.#term(signal, lead, started);
    }
  }

  /** One term: lead, renew, and end it the moment renewing fails for too long. */
  async #term(
    signal: AbortSignal,
    lead: (leading: AbortSignal) => Promise<void>,
    acquiredFrom: number,
  ): Promise<void> {
    const o = this.options;
    const term = new AbortController();
    // Counted from when the winning request was sent: the Lease cannot have been written
    // earlier, so the others' clocks start no earlier either.
    let lastRenewStart = acquiredFrom;
    let deadline: ReturnType<typeof setTimeout> | undefined;
    const arm = (from: number) => {
      clearTimeout(deadline);
      deadline = setTimeout(() => {
        if (!term.signal.aborted) {
          o.log?.warn("could not renew the lease in time: no longer leading", {
            lease: `${o.namespace}/${o.name}`,
            renewDeadlineMs: o.renewDeadlineMs,
          });
          term.abort();
        }
      }, Math.max(0, from + o.renewDeadlineMs - performance.now()));
    };
    arm(lastRenewStart);
    this.#setLeading(true);
    o.log?.info("leading: this agent streams the cluster's metadata", {
      lease: `${o.namespace}/${o.name}`,
      identity: o.identity,
    });
    const work = lead(term.signal).catch((error) => {
      o.log?.error("the leader's work failed", { error: errorMessage(error) });
    });
    const stop = () => term.abort();
    signal.addEventListener("abort", stop, { once: true });
    try {
      while (!term.signal.aborted) {
        await sleep(o.retryPeriodMs, term.signal);
        if (term.signal.aborted) break;
        const started = performance.now();
        const left = lastRenewStart + o.renewDeadlineMs - started;
        if (await this.#tryAcquireOrRenew(term.signal, Math.max(1, left))) {
          lastRenewStart = started;
          arm(lastRenewStart);
        } else if (this.#holder !== o.identity && this.#holder !== "") {
          o.log?.warn("another agent holds the lease: no longer leading", { holder: this.#holder });
          term.abort();
        }
      }
    } finally {
      clearTimeout(deadline);
      signal.removeEventListener("abort", stop);
      this.#setLeading(false);
      await work;
      if (signal.aborted) await this.#release();
    }
  }

  #setLeading(leading: boolean): void {
    if (this.#leading === leading) return;
    this.#leading = leading;
    this.options.onChange?.(leading);
  }

  /** Reads the Lease and takes or renews it when allowed; whether this agent holds it now. */
  async #tryAcquireOrRenew(signal: AbortSignal, timeoutMs: number): Promise<boolean> {
    const o = this.options;
    const now = Date.now();
    const timeout = AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]);
    try {
      let lease: LeaseRecord;
      try {
        lease = await o.client.json<LeaseRecord>("GET", this.#path, { signal: timeout });
      } catch (error) {
        if (!(error instanceof KubeApiError && error.status === 404)) throw error;
        await o.client.json("POST", this.#path.replace(/\/[^/]+$/, ""), {
          body: {
            apiVersion: "coordination.k8s.io/v1",
            kind: "Lease",
            metadata: { name: o.name, namespace: o.namespace },
            spec: this.#spec(now, now, 0),
          },
          signal: timeout,
        });
        this.#holder = o.identity;
        return true;
      }
      const spec = lease.spec ?? {};
      const holder = spec.holderIdentity ?? "";
      this.#holder = holder;
      // The record changed: it is alive as of now, by this agent's clock.
      const key = `${holder} ${spec.renewTime ?? ""} ${lease.metadata?.resourceVersion ?? ""}`;
      if (this.#observed?.key !== key) this.#observed = { key, at: performance.now() };
      const durationMs = (spec.leaseDurationSeconds ?? o.leaseDurationMs / 1000) * 1000;
      const expired = this.#observed.at + durationMs < performance.now();
      if (holder !== "" && holder !== o.identity && !expired) return false;
      const ours = holder === o.identity;
      const next: LeaseRecord = {
        ...lease,
        spec: this.#spec(
          ours && spec.acquireTime ? Date.parse(spec.acquireTime) : now,
          now,
          (spec.leaseTransitions ?? 0) + (ours ? 0 : 1),
        ),
      };
      const updated = await o.client.json<LeaseRecord>("PUT", this.#path, {
        body: next,
        signal: timeout,
      });
      this.#holder = o.identity;
      this.#observed = {
        key: `${o.identity} ${updated.spec?.renewTime ?? ""} ${
          updated.metadata?.resourceVersion ?? ""
        }`,
        at: performance.now(),
      };
      if (!ours) o.log?.info("took over the lease", { previous: holder || "(released)" });
      return true;
    } catch (error) {
      if (signal.aborted) return false;
      if (error instanceof KubeApiError && error.status === 409) return false; // another won
      o.log?.warn("cannot take or renew the lease", {
        lease: `${o.namespace}/${o.name}`,
        error: errorMessage(error),
      });
      return false;
    }
  }

  #spec(acquired: number, renewed: number, transitions: number): LeaseRecord["spec"] {
    return {
      holderIdentity: this.options.identity,
      leaseDurationSeconds: Math.ceil(this.options.leaseDurationMs / 1000),
      acquireTime: microTime(acquired),
      renewTime: microTime(renewed),
      leaseTransitions: transitions,
    };
  }

  /** Gives the Lease up (empty holder), so that another agent takes it at its next try. */
  async #release(): Promise<void> {
    const o = this.options;
    try {
      const lease = await o.client.json<LeaseRecord>("GET", this.#path, { timeoutMs: 5000 });
      if (lease.spec?.holderIdentity !== o.identity) return;
      await o.client.json("PUT", this.#path, {
        body: {
          ...lease,
          spec: {
            ...lease.spec,
            holderIdentity: "",
            leaseDurationSeconds: 1,
            renewTime: microTime(Date.now()),
          },
        },
        timeoutMs: 5000,
      });
      o.log?.info("released the lease", { lease: `${o.namespace}/${o.name}` });
    } catch (error) {
      o.log?.warn("cannot release the lease; it expires by itself", { error: errorMessage(error) });
    }
  }
}

/** A wait of `ms` to 1.2 × `ms`, so that agents started together do not ask in step. */
function jitter(ms: number): number {
  return Math.round(ms * (1 + 0.2 * Math.random()));
}
