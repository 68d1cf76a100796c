/**
 * Who the cluster is: its UID (the `kube-system` namespace's, which lives as long as the
 * cluster), its Kubernetes version (`/version`), and its platform and region, told by the
 * nodes' `spec.providerID` and well-known labels.
 *
 * @module
 */
import type { KubeClient } from "../kube/mod.ts";
import type { Resource } from "./resource.ts";

/** The cluster's identity, as a snapshot carries it. */
export interface ClusterIdentity {
  clusterUID: string;
  kubernetesVersion: string;
  /** `eks`, `gke`, `aks`, `kind`, `k3s`, `aws`, `gcp`, `azure`, or `unknown`. */
  platform: string;
  region: string;
  zones: string[];
}

/** What the nodes say about where the cluster runs. */
export interface Placement {
  platform: string;
  region: string;
  zones: string[];
}

const REGION = ["topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region"];
const ZONE = ["topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone"];

/** The platform one node says it runs on, or `undefined`. */
function platformOf(node: Resource): string | undefined {
  const labels = node.metadata.labels ?? {};
  const provider = typeof node.spec?.providerID === "string" ? node.spec.providerID : "";
  const has = (prefix: string) => Object.keys(labels).some((l) => l.startsWith(prefix));
  if (provider.startsWith("aws://")) return has("eks.amazonaws.com/") ? "eks" : "aws";
  if (provider.startsWith("gce://")) return has("cloud.google.com/gke-") ? "gke" : "gcp";
  if (provider.startsWith("azure://")) return has("kubernetes.azure.com/") ? "aks" : "azure";
  if (provider.startsWith("kind://")) return "kind";
  if (provider.startsWith("k3s://") || labels["node.kubernetes.io/instance-type"] === "k3s") {
    return "k3s";
  }
  if (has("eks.amazonaws.com/")) return "eks";
  if (has("cloud.google.com/gke-")) return "gke";
  if (has("kubernetes.azure.com/")) return "aks";
  return undefined;
}

/**
 * The platform, region and zones the nodes tell of: the platform most nodes name, the
 * region most nodes carry, every zone.
 *
 * @example Usage
 * ```ts
 * detectPlacement([{
 *   apiVersion: "v1", kind: "Node",
 *   metadata: { name: "n", uid: "u", resourceVersion: "1",
 *     labels: { "topology.kubernetes.io/region": "us-east-1", "eks.amazonaws.com/nodegroup": "ng" } },
 *   spec: { providerID: "aws:///us-east-1a/i-0abc" },
 * }]); // { platform: "eks", region: "us-east-1", zones: [] }
 * ```
 */
export function detectPlacement(nodes: Iterable<Resource>): Placement {
  const platforms = new Map<string, number>();
  const regions = new Map<string, number>();
  const zones = new Set<string>();
  for (const node of nodes) {
    const platform = platformOf(node);
    if (platform) platforms.set(platform, (platforms.get(platform) ?? 0) + 1);
    const labels = node.metadata.labels ?? {};
    const region = REGION.map((l) => labels[l]).find(Boolean);
    if (region) regions.set(region, (regions.get(region) ?? 0) + 1);
    const zone = ZONE.map((l) => labels[l]).find(Boolean);
    if (zone) zones.add(zone);
  }
  const most = (counts: Map<string, number>) =>
    [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]?.[0];
  return {
    platform: most(platforms) ?? "unknown",
    region: most(regions) ?? "",
    zones: [...zones].sort(),
  };
}

/**
 * Reads the cluster's UID and version from the API and its placement from `nodes`.
 *
 * @throws {KubeApiError} when `kube-system` cannot be read.
 */
export async function clusterIdentity(
  client: KubeClient,
  nodes: Iterable<Resource>,
): Promise<ClusterIdentity> {
  const [namespace, version] = await Promise.all([
    client.json<{ metadata?: { uid?: string } }>("GET", "/api/v1/namespaces/kube-system"),
    client.json<{ gitVersion?: string }>("GET", "/version"),
  ]);
  return {
    clusterUID: namespace.metadata?.uid ?? "",
    kubernetesVersion: version.gitVersion ?? "",
    ...detectPlacement(nodes),
  };
}
