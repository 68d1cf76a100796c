/**
 * The platform agent: everything the daemon's platform feature runs. It competes for the
 * Lease; while it leads, it keeps the resource graph live and streams it with the current
 * settings (the configuration file's, or those of the AgentConfig it is pointed at, whose
 * status it writes). Settings that change end the stream and start it again (a new snapshot,
 * the graph kept); credentials that change are used for the next token. Only the leader
 * watches the cluster: a DaemonSet of a thousand nodes must not hold a thousand copies of it.
 *
 * @module
 */
import { detectPlacement, LeaderElector, ResourceGraph, watchCluster } from "../cluster/mod.ts";
import { errorMessage } from "../errors.ts";
import { Informer, KubeApiError, type KubeClient } from "../kube/mod.ts";
import type { Logger } from "../log.ts";
import { sleep } from "../pool.ts";
import {
  AGENT_CONFIG_API,
  type AgentConfigSpec,
  agentConfigStatus,
  type Condition,
  mergeSettings,
  parseAgentConfigSpec,
  type PlatformSettings,
} from "./agent_config.ts";
import {
  credentialsSecretInformerOptions,
  type PlatformCredentials,
  readCredentialsFile,
} from "./credentials.ts";
import { CredentialsMissing, PlatformHttp } from "./http.ts";
import type { SnapshotHeader } from "./payload.ts";
import { Streamer, type StreamerHooks } from "./streamer.ts";
import { HttpTransport, type PlatformTransport } from "./transport.ts";

/** What the agent tells metrics, besides the streamer's hooks. */
export interface PlatformAgentHooks extends StreamerHooks {
  leading?(leading: boolean): void;
  tokenRefreshed?(): void;
}

/** Options of {@linkcode PlatformAgent}. */
export interface PlatformAgentOptions {
  client: KubeClient;
  /** The configuration file's settings. */
  settings: PlatformSettings;
  /** The agent's own namespace: its Lease and its AgentConfig. */
  namespace: string;
  /** The AgentConfig to read, or "". */
  agentConfig: string;
  election: {
    leaseName: string;
    identity: string;
    leaseDurationMs: number;
    renewDeadlineMs: number;
    retryPeriodMs: number;
  };
  version: string;
  log: Logger;
  hooks?: PlatformAgentHooks;
  /** Builds the transport (default: HTTP); the gRPC one is chosen by the daemon. */
  transport?: (
    http: PlatformHttp,
    settings: PlatformSettings,
    clusterUid: () => string,
  ) => PlatformTransport;
}

/**
 * The agent.
 *
 * @example Usage
 * ```ts ignore
 * const agent = new PlatformAgent({ client, settings, namespace, agentConfig: "", election, version, log });
 * await agent.run(signal);
 * ```
 */
export class PlatformAgent {
  #settings: PlatformSettings;
  #changed = new EventTarget();
  #credentials: PlatformCredentials | undefined;
  #credentialsProblem = "not read yet";
  #config: {
    spec?: AgentConfigSpec;
    generation?: number;
    conditions?: Condition[];
    exists: boolean;
  } = {
    exists: false,
  };
  #graph: ResourceGraph | undefined;
  #streamer: Streamer | undefined;
  readonly #http: PlatformHttp;

  /** Creates the agent; {@linkcode run} starts it. */
  constructor(private readonly options: PlatformAgentOptions) {
    this.#settings = options.agentConfig ? { ...options.settings, url: "" } : options.settings;
    this.#http = new PlatformHttp({
      url: "http://unset.invalid",
      credentials: () => {
        if (!this.#credentials) {
          throw new CredentialsMissing(`No platform credentials: ${this.#credentialsProblem}`);
        }
        return this.#credentials;
      },
      onTokenRefresh: () => options.hooks?.tokenRefreshed?.(),
    });
  }

  /** The settings streamed with now. */
  get settings(): PlatformSettings {
    return this.#settings;
  }

  /** Events waiting to be sent (on the leader). */
  get buffered(): number {
    return this.#streamer?.buffered ?? 0;
  }

  /** Resources in the graph by kind (on the leader). */
  counts(): Record<string, number> {
    return this.#graph?.counts() ?? {};
  }

  /** Runs until `signal` aborts; then drains the buffer and releases the Lease. */
  async run(signal: AbortSignal): Promise<void> {
    const o = this.options;
    const elector = new LeaderElector({
      client: o.client,
      namespace: o.namespace,
      name: o.election.leaseName,
      identity: o.election.identity,
      leaseDurationMs: o.election.leaseDurationMs,
      renewDeadlineMs: o.election.renewDeadlineMs,
      retryPeriodMs: o.election.retryPeriodMs,
      log: o.log,
      onChange: (leading) => o.hooks?.leading?.(leading),
    });
    await Promise.all([
      this.#watchCredentials(signal),
      o.agentConfig ? this.#watchAgentConfig(signal) : Promise.resolve(),
      elector.run(signal, (leading) => this.#term(leading, signal)),
    ]);
  }

  /** Applies new settings; the stream restarts when a setting it uses changed. */
  #apply(settings: PlatformSettings): void {
    const before = JSON.stringify(this.#settings);
    this.#settings = settings;
    if (JSON.stringify(settings) !== before) this.#changed.dispatchEvent(new Event("change"));
  }

  /** Resolves at the next change of the settings, or when `signal` aborts. */
  #nextChange(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.#changed.removeEventListener("change", done);
        signal.removeEventListener("abort", done);
        resolve();
      };
      this.#changed.addEventListener("change", done);
      signal.addEventListener("abort", done);
    });
  }

  /** Keeps the credentials current: the file once, or the Secret the settings name. */
  async #watchCredentials(signal: AbortSignal): Promise<void> {
    const o = this.options;
    while (!signal.aborted) {
      const { credentialsFile: file, credentialsSecretRef: ref } = this.#settings;
      const settled = new AbortController();
      const stop = () => settled.abort();
      signal.addEventListener("abort", stop, { once: true });
      const changed = (async () => {
        while (!settled.signal.aborted) {
          await this.#nextChange(settled.signal);
          const now = this.#settings;
          if (now.credentialsFile !== file || now.credentialsSecretRef !== ref) settled.abort();
        }
      })();
      if (file) {
        try {
          this.#useCredentials(await readCredentialsFile(file), file);
        } catch (error) {
          this.#noCredentials(errorMessage(error));
        }
      } else if (ref) {
        const [namespace, name] = ref.split("/") as [string, string];
        const informer = new Informer(o.client, {
          ...credentialsSecretInformerOptions(namespace, name, (update) => {
            if ("credentials" in update) this.#useCredentials(update.credentials, ref);
            else this.#noCredentials(update.error);
          }),
          log: o.log,
        });
        await informer.run(settled.signal);
      } else {
        this.#noCredentials(
          "neither platform.credentialsSecretRef nor platform.credentialsFile is set",
        );
      }
      await changed;
      signal.removeEventListener("abort", stop);
    }
  }

  #useCredentials(credentials: PlatformCredentials, source: string): void {
    const before = this.#credentials;
    this.#credentials = credentials;
    if (before?.thumbprint === credentials.thumbprint && before.clientId === credentials.clientId) {
      return;
    }
    this.#http.resetToken();
    this.options.log.info("platform credentials loaded", {
      source,
      clientId: credentials.clientId,
      key: credentials.thumbprint,
    });
  }

  #noCredentials(reason: string): void {
    this.#credentials = undefined;
    this.#credentialsProblem = reason;
    this.options.log.warn("no usable platform credentials", { reason });
  }

  /**
   * Follows the AgentConfig: its spec laid over the file's settings, its generation. Until
   * the first answer nothing streams (the file's platform may not be the one meant); without
   * an AgentConfig, or without its CRD (looked for again every minute), the file's settings
   * apply.
   */
  async #watchAgentConfig(signal: AbortSignal): Promise<void> {
    const o = this.options;
    const path = `${AGENT_CONFIG_API}/namespaces/${encodeURIComponent(o.namespace)}/agentconfigs`;
    let told = false;
    while (!signal.aborted) {
      try {
        await o.client.list(path, { fieldSelector: `metadata.name=${o.agentConfig}` });
        break;
      } catch (error) {
        if (!(error instanceof KubeApiError && error.status === 404)) {
          o.log.warn("cannot read the AgentConfig", { error: errorMessage(error) });
        } else if (!told) {
          told = true;
          o.log.warn(
            "the AgentConfig CRD is not installed: using the configuration file's settings",
            {
              agentConfig: `${o.namespace}/${o.agentConfig}`,
            },
          );
          this.#apply(o.settings);
        }
        await sleep(told ? 60_000 : 5000, signal);
      }
    }
    const informer = new Informer(o.client, {
      path,
      fieldSelector: `metadata.name=${o.agentConfig}`,
      onEvent: (type, object) => {
        if (type === "DELETED") {
          this.#config = { exists: false };
          o.log.warn("the AgentConfig was deleted: back to the configuration file's settings", {
            agentConfig: `${o.namespace}/${o.agentConfig}`,
          });
          this.#apply(o.settings);
          return;
        }
        const spec = parseAgentConfigSpec(object.spec);
        const status = object.status as { conditions?: Condition[] } | undefined;
        const generation = (object.metadata as { generation?: number } | undefined)?.generation;
        if (typeof spec === "string") {
          o.log.error("the AgentConfig cannot be used", {
            agentConfig: o.agentConfig,
            reason: spec,
          });
          this.#config = { exists: true, generation, conditions: status?.conditions };
          return;
        }
        this.#config = { exists: true, spec, generation, conditions: status?.conditions };
        this.#apply(mergeSettings(o.settings, spec, o.namespace));
      },
      log: o.log,
    });
    informer.synced.then(() => {
      if (this.#config.exists) return;
      o.log.info("no AgentConfig: using the configuration file's settings", {
        agentConfig: `${o.namespace}/${o.agentConfig}`,
      });
      this.#apply(o.settings);
    });
    await informer.run(signal);
  }

  /** One leadership term: the graph kept live, streamed with the current settings. */
  async #term(leading: AbortSignal, daemon: AbortSignal): Promise<void> {
    const o = this.options;
    let graph: ResourceGraph | undefined;
    let watching: Promise<void> | undefined;
    try {
      while (!leading.aborted) {
        const settings = this.#settings;
        if (!settings.url) {
          await this.#nextChange(leading);
          continue;
        }
        if (!graph) {
          graph = new ResourceGraph({
            path: settings.graphPath || undefined,
            onSubscriberError: (error) =>
              o.log.warn("a graph subscriber failed", { error: errorMessage(error) }),
          });
          this.#graph = graph;
          const watch = watchCluster({ client: o.client, graph, log: o.log });
          watching = watch.run(leading);
          if (!(await Promise.race([watch.synced.then(() => true), aborted(leading)]))) break;
          o.log.info("cluster watched", { resources: graph.size });
        }
        await this.#stream(graph, settings, leading, daemon);
      }
    } finally {
      await watching;
      this.#streamer = undefined;
      this.#graph = undefined;
      graph?.close();
    }
  }

  /** Streams until the term ends or the settings change. */
  async #stream(
    graph: ResourceGraph,
    settings: PlatformSettings,
    leading: AbortSignal,
    daemon: AbortSignal,
  ): Promise<void> {
    const o = this.options;
    const session = new AbortController();
    const end = () => session.abort();
    leading.addEventListener("abort", end, { once: true });
    this.#nextChange(session.signal).then(end);
    const version = await o.client.json<{ gitVersion?: string }>("GET", "/version", {
      signal: session.signal,
    }).catch(() => ({ gitVersion: "" }));
    const clusterUid = () => graph.get("Namespace//kube-system")?.metadata.uid ?? "";
    const header = (): Promise<SnapshotHeader> => {
      const placement = detectPlacement(graph.list("Node"));
      return Promise.resolve({
        cluster_uid: clusterUid(),
        cluster_name: settings.clusterName,
        kubernetes_version: version.gitVersion ?? "",
        platform: placement.platform,
        region: placement.region,
        agent_version: o.version,
      });
    };
    this.#http.retarget(settings.url);
    const transport = o.transport?.(this.#http, settings, clusterUid) ??
      new HttpTransport(this.#http, clusterUid);
    const streamer = new Streamer({
      graph,
      transport,
      header,
      log: o.log,
      bufferSize: settings.bufferSize,
      eventsPerSecond: settings.eventsPerSecond,
      burstSize: settings.burstSize,
      heartbeatIntervalMs: settings.syncIntervalMs,
      // Well inside the renew deadline: the Lease is not renewed while draining.
      drainTimeoutMs: o.election.renewDeadlineMs / 2,
      hooks: o.hooks,
    });
    this.#streamer = streamer;
    const status = o.agentConfig
      ? this.#writeStatus(streamer, graph, clusterUid, settings, session.signal)
      : undefined;
    try {
      // Drained only when the daemon stops; a lost Lease or new settings stop it at once.
      await streamer.run(session.signal, () => daemon.aborted);
    } finally {
      session.abort();
      leading.removeEventListener("abort", end);
      // A stopping daemon's transport sends what it holds; a lost Lease sends nothing more.
      await transport.close(daemon.aborted);
      await status;
    }
  }

  /** Writes the AgentConfig's status every sync interval (every 10 s at most) while streaming. */
  async #writeStatus(
    streamer: Streamer,
    graph: ResourceGraph,
    clusterUid: () => string,
    settings: PlatformSettings,
    signal: AbortSignal,
  ): Promise<void> {
    const o = this.options;
    const path = `${AGENT_CONFIG_API}/namespaces/${encodeURIComponent(o.namespace)}/agentconfigs/${
      encodeURIComponent(o.agentConfig)
    }/status`;
    let last = "";
    while (!signal.aborted) {
      await sleep(Math.min(settings.syncIntervalMs, 10_000), signal);
      if (signal.aborted || !this.#config.exists) continue;
      const status = agentConfigStatus(
        {
          ...streamer.state(),
          clusterUID: clusterUid(),
          leader: o.election.identity,
          resourceCounts: graph.counts(),
        },
        this.#config.generation,
        this.#config.conditions,
        new Date(),
      );
      const text = JSON.stringify(status);
      if (text === last) continue;
      try {
        const updated = await o.client.json<{ status?: { conditions?: Condition[] } }>(
          "PATCH",
          path,
          {
            body: { status },
            contentType: "application/merge-patch+json",
            signal,
          },
        );
        this.#config.conditions = updated.status?.conditions;
        last = text;
      } catch (error) {
        if (!signal.aborted) {
          o.log.warn("cannot write the AgentConfig's status", { error: errorMessage(error) });
        }
      }
    }
  }
}

function aborted(signal: AbortSignal): Promise<false> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(false);
    else signal.addEventListener("abort", () => resolve(false), { once: true });
  });
}
