import { assertEquals } from "../../tests/support/assert.ts";
import { detectPlacement } from "./identity.ts";
import type { Resource } from "./resource.ts";

function node(providerID: string, labels: Record<string, string> = {}): Resource {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: providerID || "n", uid: "u", resourceVersion: "1", labels },
    spec: providerID ? { providerID } : {},
  };
}

Deno.test("detectPlacement() tells each provider by providerID and labels", () => {
  const cases: [Resource, string][] = [
    [node("aws:///eu-west-1a/i-0abc", { "eks.amazonaws.com/nodegroup": "ng" }), "eks"],
    [node("aws:///eu-west-1a/i-0abc"), "aws"],
    [node("gce://proj/europe-west1-b/n", { "cloud.google.com/gke-nodepool": "p" }), "gke"],
    [node("gce://proj/europe-west1-b/n"), "gcp"],
    [node("azure:///subscriptions/s/vm", { "kubernetes.azure.com/cluster": "c" }), "aks"],
    [node("azure:///subscriptions/s/vm"), "azure"],
    [node("kind://docker/kind/kind-control-plane"), "kind"],
    [node("k3s://server-1", { "node.kubernetes.io/instance-type": "k3s" }), "k3s"],
    [node("", { "node.kubernetes.io/instance-type": "k3s" }), "k3s"],
    [node("", { "eks.amazonaws.com/nodegroup": "ng" }), "eks"],
    [node(""), "unknown"],
  ];
  for (const [n, platform] of cases) {
    assertEquals(detectPlacement([n]).platform, platform, String(n.spec?.providerID));
  }
});

Deno.test("detectPlacement() takes the region most nodes carry, and every zone", () => {
  const at = (region: string, zone: string) =>
    node("kind://docker/kind/x", {
      "topology.kubernetes.io/region": region,
      "topology.kubernetes.io/zone": zone,
    });
  const placement = detectPlacement([
    at("eu-west-1", "eu-west-1b"),
    at("eu-west-1", "eu-west-1a"),
    at("us-east-1", "us-east-1a"),
    node("", { "failure-domain.beta.kubernetes.io/zone": "eu-west-1c" }),
  ]);
  assertEquals(placement, {
    platform: "kind",
    region: "eu-west-1",
    zones: ["eu-west-1a", "eu-west-1b", "eu-west-1c", "us-east-1a"],
  });
});
