/**
 * Restart events: a container's `restartCount` went up. Each is classified as a panic or
 * not by the rules in the reference facts: never when a probe killed it; yes when the
 * termination names a panic keyword, the signal is SIGSEGV, SIGABRT or SIGFPE (exit 139, 134,
 * 136), or the exit code is Go's panic code 2; otherwise the previous container's last log
 * lines decide (read bounded, only when the termination alone is inconclusive).
 *
 * @module
 */
import type { Logger } from "../log.ts";
import type { KubeClient, KubeObject } from "./client.ts";
import { Informer, type InformerOptions } from "./informer.ts";
import { instanceName } from "../instance.ts";

/** A container restarted. */
export interface RestartEvent {
  namespace: string;
  pod: string;
  container: string;
  node: string | null;
  /** The Milvus instance, by the configured instance labels. */
  instance: string | null;
  restartCount: number;
  exitCode: number | null;
  signal: number | null;
  reason: string | null;
  message: string | null;
  finishedAt: string | null;
  isPanic: boolean;
  /** Why it was (or was not) judged a panic. */
  evidence: string;
}

type Json = Record<string, unknown>;

/** What the classifier needs from the configuration. */
export interface PanicRules {
  panicKeywords: readonly string[];
  instanceLabels: readonly string[];
}

const PROBE = /\b(liveness|readiness|startup) probe\b/i;
const PANIC_SIGNALS = new Set([11, 6, 8]);

function statuses(pod: KubeObject | undefined): Json[] {
  return ((pod?.status as Json | undefined)?.containerStatuses as Json[] | undefined) ?? [];
}

/** The restarts between two versions of a pod, before panic classification. */
export function restartsBetween(
  previous: KubeObject | undefined,
  current: KubeObject,
  rules: PanicRules,
): Omit<RestartEvent, "isPanic" | "evidence">[] {
  if (!previous) return [];
  const before = new Map(statuses(previous).map((s) => [s.name, Number(s.restartCount ?? 0)]));
  const found: Omit<RestartEvent, "isPanic" | "evidence">[] = [];
  for (const status of statuses(current)) {
    const count = Number(status.restartCount ?? 0);
    const old = before.get(status.name);
    if (old === undefined || count <= old) continue;
    const terminated = ((status.lastState as Json | undefined)?.terminated ?? {}) as Json;
    const exitCode = typeof terminated.exitCode === "number" ? terminated.exitCode : null;
    found.push({
      namespace: current.metadata?.namespace ?? "",
      pod: current.metadata?.name ?? "",
      container: String(status.name),
      node: ((current.spec as Json | undefined)?.nodeName as string | undefined) ?? null,
      instance: instanceName(current.metadata?.labels ?? {}, rules.instanceLabels) ?? null,
      restartCount: count,
      exitCode,
      signal: typeof terminated.signal === "number" && terminated.signal > 0
        ? terminated.signal
        : exitCode !== null && exitCode > 128
        ? exitCode - 128
        : null,
      reason: typeof terminated.reason === "string" ? terminated.reason : null,
      message: typeof terminated.message === "string" ? terminated.message : null,
      finishedAt: typeof terminated.finishedAt === "string" ? terminated.finishedAt : null,
    });
  }
  return found;
}

/**
 * Judges a restart from its termination alone: `true`/`false` with the evidence, or
 * `undefined` when only the logs can tell.
 */
export function judgeTermination(
  restart: Pick<RestartEvent, "exitCode" | "signal" | "reason" | "message">,
  keywords: readonly string[],
): { isPanic: boolean; evidence: string } | undefined {
  const text = `${restart.reason ?? ""} ${restart.message ?? ""}`;
  if (PROBE.test(text)) return { isPanic: false, evidence: `killed by a probe: ${text.trim()}` };
  const keyword = findKeyword(text, keywords);
  if (keyword) return { isPanic: true, evidence: `termination mentions "${keyword}"` };
  if (restart.signal !== null && PANIC_SIGNALS.has(restart.signal)) {
    return { isPanic: true, evidence: `killed by signal ${restart.signal}` };
  }
  if (restart.exitCode === 2) return { isPanic: true, evidence: "exit code 2 (Go panic)" };
  if (restart.reason === "OOMKilled") return { isPanic: false, evidence: "OOMKilled" };
  if (restart.exitCode === 0) return { isPanic: false, evidence: "exited with code 0" };
  return undefined;
}

/** Judges from the previous container's last log lines. */
export function judgeLogs(
  log: string,
  keywords: readonly string[],
): { isPanic: boolean; evidence: string } {
  const keyword = findKeyword(log, keywords);
  return keyword
    ? { isPanic: true, evidence: `previous log mentions "${keyword}"` }
    : { isPanic: false, evidence: "no panic sign in the termination or the previous log" };
}

function findKeyword(text: string, keywords: readonly string[]): string | undefined {
  const lower = text.toLowerCase();
  return keywords.find((k) => lower.includes(k.toLowerCase()));
}

/** Options of {@linkcode watchRestarts}. */
export interface WatchRestartsOptions extends PanicRules {
  client: KubeClient;
  /** Only pods on this node (the daemon's); all nodes when undefined. */
  nodeName?: string;
  /** Label selectors of Milvus pods (`key=value` or `key`); a pod matching any is watched. */
  selectors: readonly string[];
  onRestart(event: RestartEvent): void | Promise<void>;
  /** Told after every change of the watched pods, with the cache as it is now. */
  onChange?(pods: ReadonlyMap<string, KubeObject>): void;
  /** Log lines read from the previous container when the termination is inconclusive. */
  logTailLines?: number;
  informer?: Partial<InformerOptions>;
  log?: Logger;
}

/** Whether `labels` match a `key=value` or `key` selector. */
export function matchesSelector(selector: string, labels: Record<string, string>): boolean {
  const [key, value] = selector.split("=", 2) as [string, string | undefined];
  return value === undefined ? key in labels : labels[key] === value;
}

/**
 * Keeps only what restart detection reads, so that thousands of cached pods stay small.
 */
export function slimPod(pod: KubeObject): KubeObject {
  const m = pod.metadata ?? {};
  return {
    metadata: {
      name: m.name,
      namespace: m.namespace,
      uid: m.uid,
      resourceVersion: m.resourceVersion,
      labels: m.labels,
    },
    spec: {
      nodeName: (pod.spec as Json | undefined)?.nodeName,
      // The images say which Milvus version crashed (for the AI stage's context).
      containers: (((pod.spec as Json | undefined)?.containers ?? []) as Json[]).map((c) => ({
        name: c.name,
        image: c.image,
      })),
    },
    status: {
      containerStatuses: statuses(pod).map((s) => ({
        name: s.name,
        restartCount: s.restartCount,
        containerID: s.containerID,
        image: s.image,
        ...((s.lastState as Json | undefined)?.terminated
          ? { lastState: { terminated: (s.lastState as Json).terminated } }
          : {}),
      })),
    },
  };
}

/**
 * Watches Milvus pods and reports each restart, judged panic or not. Returns the informer
 * (for its cache, stats and `synced`); run it with `informer.run(signal)`.
 */
export function watchRestarts(options: WatchRestartsOptions): Informer {
  const milvus = (pod: KubeObject) =>
    options.selectors.some((s) => matchesSelector(s, pod.metadata?.labels ?? {}));
  const informer: Informer = new Informer(options.client, {
    path: "/api/v1/pods",
    fieldSelector: options.nodeName ? `spec.nodeName=${options.nodeName}` : undefined,
    transform: slimPod,
    log: options.log,
    ...options.informer,
    onEvent: async (type, pod, previous) => {
      options.onChange?.(informer.cache);
      if (type !== "MODIFIED" || !milvus(pod)) return;
      for (const restart of restartsBetween(previous, pod, options)) {
        let verdict = judgeTermination(restart, options.panicKeywords);
        if (!verdict) {
          try {
            const log = await options.client.log(restart.namespace, restart.pod, {
              container: restart.container,
              previous: true,
              tailLines: options.logTailLines ?? 50,
              limitBytes: 64 * 1024,
            });
            verdict = judgeLogs(log, options.panicKeywords);
          } catch (error) {
            verdict = {
              isPanic: false,
              evidence: `inconclusive: previous log unavailable (${
                error instanceof Error ? error.message : error
              })`,
            };
          }
        }
        await options.onRestart({ ...restart, ...verdict });
      }
    },
  });
  return informer;
}
