/**
 * The platform feature: one agent of the DaemonSet, chosen by a Lease, keeps the resource
 * graph live (sixteen watches, Secret and ConfigMap values dropped while decoding) and
 * streams it to the platform as a snapshot, events and heartbeats. Only the leader watches:
 * a DaemonSet of a thousand nodes must not hold a thousand copies of the cluster nor open
 * sixteen thousand watches. A term ends the moment the Lease is lost (no drain: another agent
 * may already stream); at shutdown the leader drains its buffer, then releases the Lease.
 * The credentials come from a Secret watched at run time (or a local file) and are never
 * logged. On when `platform.url` is set.
 *
 * @module
 */
import type { ResourceGraph } from "../../lib/cluster/mod.ts";
import { ConfigError, errorMessage } from "../../lib/errors.ts";
import type { KubeClient } from "../../lib/kube/mod.ts";
import type { PlatformCredentials, SnapshotHeader, Streamer } from "../../lib/platform/mod.ts";
import { VERSION } from "../../lib/version.ts";
import { type Feature, type FeatureContext, superviseStage } from "../feature.ts";

/** Creates the platform feature. */
export function platformFeature(context: FeatureContext): Feature {
  const { config, log, metrics } = context;
  const settings = config.platform;
  let stages: Promise<unknown>[] = [];
  let graph: ResourceGraph | undefined;
  let streamer: Streamer | undefined;
  return {
    name: "platform",
    title: "platform streaming",
    enabled: settings.url !== "",
    async start() {
      const { KubeClient, loadKubeTarget, Informer } = await import("../../lib/kube/mod.ts");
      const cluster = await import("../../lib/cluster/mod.ts");
      const platform = await import("../../lib/platform/mod.ts");
      if (!settings.credentialsFile && !settings.credentialsSecretRef) {
        throw new ConfigError(
          "platform.url is set but neither platform.credentialsSecretRef nor platform.credentialsFile",
        );
      }
      const target = await loadKubeTarget({
        kubeconfig: config.discovery.kubeconfig || undefined,
        context: config.discovery.context || undefined,
      });
      const client = new KubeClient(target);
      let credentials: PlatformCredentials | undefined;
      let credentialsProblem = "not read yet";
      if (settings.credentialsFile) {
        credentials = await platform.readCredentialsFile(settings.credentialsFile);
        log.info("platform credentials read", {
          file: settings.credentialsFile,
          clientId: credentials.clientId,
          key: credentials.thumbprint,
        });
      }
      const http = new platform.PlatformHttp({
        url: settings.url,
        credentials: () => {
          if (!credentials) {
            throw new platform.PlatformUnreachable(
              `No platform credentials: ${credentialsProblem}`,
            );
          }
          return credentials;
        },
        onTokenRefresh: () => metrics.platformTokenRefreshes.inc(),
      });
      if (settings.credentialsSecretRef) {
        const [namespace, name] = settings.credentialsSecretRef.split("/") as [string, string];
        const informer = new Informer(client, {
          ...platform.credentialsSecretInformerOptions(namespace, name, (update) => {
            if ("credentials" in update) {
              const changed = credentials?.thumbprint !== update.credentials.thumbprint ||
                credentials?.clientId !== update.credentials.clientId;
              credentials = update.credentials;
              if (changed) {
                http.resetToken();
                log.info("platform credentials loaded", {
                  secret: settings.credentialsSecretRef,
                  clientId: update.credentials.clientId,
                  key: update.credentials.thumbprint,
                });
              }
            } else {
              credentials = undefined;
              credentialsProblem = update.error;
              log.warn("no usable platform credentials", { reason: update.error });
            }
          }),
          log,
        });
        stages.push(superviseStage(context, "platform-credentials", (s) => informer.run(s)));
      }
      const namespace = settings.leaderElection.namespace || target.namespace;
      const identity = `${config.nodeName || Deno.hostname()}_${crypto.randomUUID().slice(0, 8)}`;
      const elector = new cluster.LeaderElector({
        client,
        namespace,
        name: settings.leaderElection.leaseName,
        identity,
        leaseDurationMs: settings.leaderElection.leaseDuration,
        renewDeadlineMs: settings.leaderElection.renewDeadline,
        retryPeriodMs: settings.leaderElection.retryPeriod,
        log,
        onChange: (leading) => metrics.platformLeader.set(leading ? 1 : 0),
      });
      metrics.platformLeader.set(0);
      metrics.platformBufferCapacity.set(settings.bufferSize);
      log.info("competing for the platform lease", {
        lease: `${namespace}/${settings.leaderElection.leaseName}`,
        identity,
      });
      stages.push(superviseStage(
        context,
        "platform-election",
        (signal) => elector.run(signal, (leading) => lead(leading, client)),
        "platform",
      ));
      metrics.up.set({ feature: "platform" }, 1);

      /** One leadership term: watch the cluster, then stream it until the term ends. */
      const lead = async (leading: AbortSignal, client: KubeClient) => {
        const g = new cluster.ResourceGraph({
          path: settings.graphPath || undefined,
          onSubscriberError: (error) =>
            log.warn("a graph subscriber failed", { error: errorMessage(error) }),
        });
        graph = g;
        const watch = cluster.watchCluster({ client, graph: g, log });
        const watching = watch.run(leading);
        try {
          const synced = await Promise.race([
            watch.synced.then(() => true),
            new Promise<false>((resolve) =>
              leading.addEventListener("abort", () => resolve(false), { once: true })
            ),
          ]);
          if (!synced) return;
          log.info("cluster watched", { resources: g.size, ...g.counts() });
          const version = await client.json<{ gitVersion?: string }>("GET", "/version")
            .catch(() => ({ gitVersion: "" }));
          const header = (): Promise<SnapshotHeader> => {
            const placement = cluster.detectPlacement(g.list("Node"));
            return Promise.resolve({
              cluster_uid: g.get("Namespace//kube-system")?.metadata.uid ?? "",
              cluster_name: settings.clusterName,
              kubernetes_version: version.gitVersion ?? "",
              platform: placement.platform,
              region: placement.region,
              agent_version: VERSION,
            });
          };
          const clusterUid = () => g.get("Namespace//kube-system")?.metadata.uid ?? "";
          streamer = new platform.Streamer({
            graph: g,
            transport: new platform.HttpTransport(http, clusterUid),
            header,
            log,
            bufferSize: settings.bufferSize,
            eventsPerSecond: settings.rateLimit.eventsPerSecond,
            burstSize: settings.rateLimit.burstSize,
            heartbeatIntervalMs: settings.syncInterval,
            // Well inside the renew deadline: the Lease is not renewed while draining.
            drainTimeoutMs: settings.leaderElection.renewDeadline / 2,
            hooks: {
              sent: (kind, n) => metrics.platformEventsSent.inc({ kind }, n),
              dropped: (kind, reason, n) => metrics.platformEventsDropped.inc({ kind, reason }, n),
              retried: (kind, n) => metrics.platformEventsRetried.inc({ kind }, n),
              synced: (at) => metrics.platformLastSync.set(at / 1000),
              snapshot: (seconds, at) => {
                metrics.platformSnapshotSeconds.observe(seconds);
                metrics.platformLastSnapshot.set(at / 1000);
              },
            },
          });
          // Drained only when the daemon stops; a lost Lease stops it at once.
          await streamer.run(leading, () => context.signal.aborted);
        } finally {
          await watching;
          streamer = undefined;
          graph = undefined;
          metrics.platformResources.reset();
          g.close();
        }
      };
    },
    async stop() {
      await Promise.all(stages);
      stages = [];
    },
    // A follower is ready: it stands by.
    ready: () => true,
    collect() {
      metrics.platformBufferedEvents.set(streamer?.buffered ?? 0);
      if (graph) {
        for (const [kind, count] of Object.entries(graph.counts())) {
          metrics.platformResources.set({ kind }, count);
        }
      }
    },
  };
}
