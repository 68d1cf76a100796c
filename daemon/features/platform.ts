/**
 * The platform feature: one agent of the DaemonSet, chosen by a Lease, keeps the cluster's
 * resource graph live and streams it to the platform (`lib/platform/agent.ts`); the others
 * stand by. Its counters become the `agent_platform_*` metrics. On when `platform.url` or
 * `platform.agentConfig` is set; off, with an error, when it cannot run at all (no cluster, a
 * credentials file that cannot be used).
 *
 * @module
 */
import type { PlatformAgent } from "../../lib/platform/mod.ts";
import { VERSION } from "../../lib/version.ts";
import { type Feature, type FeatureContext, superviseStage } from "../feature.ts";

/** Creates the platform feature. */
export function platformFeature(context: FeatureContext): Feature {
  const { config, log, metrics } = context;
  const settings = config.platform;
  let stage: Promise<unknown> | undefined;
  let agent: PlatformAgent | undefined;
  return {
    name: "platform",
    title: "platform streaming",
    enabled: settings.url !== "" || settings.agentConfig !== "",
    async start() {
      const { KubeClient, loadKubeTarget } = await import("../../lib/kube/mod.ts");
      const platform = await import("../../lib/platform/mod.ts");
      if (settings.credentialsFile) {
        // A file that cannot be used is a configuration error, told at start.
        await platform.readCredentialsFile(settings.credentialsFile);
      }
      const target = await loadKubeTarget({
        kubeconfig: config.discovery.kubeconfig || undefined,
        context: config.discovery.context || undefined,
      });
      const namespace = settings.leaderElection.namespace || target.namespace;
      const identity = `${config.nodeName || Deno.hostname()}_${crypto.randomUUID().slice(0, 8)}`;
      agent = new platform.PlatformAgent({
        client: new KubeClient(target),
        settings: {
          url: settings.url,
          clusterName: settings.clusterName,
          credentialsSecretRef: settings.credentialsSecretRef,
          credentialsFile: settings.credentialsFile,
          syncIntervalMs: settings.syncInterval,
          eventsPerSecond: settings.rateLimit.eventsPerSecond,
          burstSize: settings.rateLimit.burstSize,
          bufferSize: settings.bufferSize,
          graphPath: settings.graphPath,
        },
        namespace,
        agentConfig: settings.agentConfig,
        election: {
          leaseName: settings.leaderElection.leaseName,
          identity,
          leaseDurationMs: settings.leaderElection.leaseDuration,
          renewDeadlineMs: settings.leaderElection.renewDeadline,
          retryPeriodMs: settings.leaderElection.retryPeriod,
        },
        version: VERSION,
        log,
        ...(settings.transport === "grpc"
          ? {
            transport: (http, current, clusterUid) =>
              new platform.GrpcTransport({
                target: settings.grpcTarget.replace(/^grpcs?:\/\//, ""),
                secure: settings.grpcTarget.startsWith("grpcs:"),
                token: (signal) => http.token(signal),
                invalidateToken: (token) => http.invalidate(token),
                clusterUid,
                log,
                maxUnackedEvents: current.bufferSize,
              }),
          }
          : {}),
        hooks: {
          leading: (leading) => metrics.platformLeader.set(leading ? 1 : 0),
          tokenRefreshed: () => metrics.platformTokenRefreshes.inc(),
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
      metrics.platformLeader.set(0);
      metrics.platformBufferCapacity.set(settings.bufferSize);
      log.info("competing for the platform lease", {
        lease: `${namespace}/${settings.leaderElection.leaseName}`,
        identity,
        ...(settings.agentConfig ? { agentConfig: `${namespace}/${settings.agentConfig}` } : {}),
      });
      const running = agent;
      stage = superviseStage(context, "platform", (signal) => running.run(signal), "platform");
      metrics.up.set({ feature: "platform" }, 1);
    },
    async stop() {
      await stage;
    },
    // A follower is ready: it stands by.
    ready: () => true,
    collect() {
      metrics.platformBufferedEvents.set(agent?.buffered ?? 0);
      metrics.platformResources.reset();
      for (const [kind, count] of Object.entries(agent?.counts() ?? {})) {
        metrics.platformResources.set({ kind }, count);
      }
    },
  };
}
