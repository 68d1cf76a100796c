import { assertEquals } from "../../tests/support/assert.ts";
import {
  agentConfigStatus,
  mergeSettings,
  parseAgentConfigSpec,
  type PlatformSettings,
} from "./agent_config.ts";

const BASE: PlatformSettings = {
  url: "https://file.example.com",
  clusterName: "from-file",
  credentialsSecretRef: "",
  credentialsFile: "/etc/creds.yaml",
  syncIntervalMs: 300_000,
  eventsPerSecond: 10,
  burstSize: 20,
  bufferSize: 1000,
  graphPath: "",
};

Deno.test("parseAgentConfigSpec() checks what the CRD's schema checks", () => {
  const ok = { platformURL: "https://p.example.com", credentialsSecretRef: { name: "c" } };
  assertEquals(typeof parseAgentConfigSpec(ok), "object");
  assertEquals(
    parseAgentConfigSpec({ ...ok, rateLimit: { eventsPerSecond: 5000 } }),
    "spec.rateLimit.eventsPerSecond: Too big: expected number to be <=1000",
  );
  assertEquals(
    parseAgentConfigSpec({ ...ok, syncInterval: "10ms" }),
    'spec.syncInterval: expected a duration of at least 1s, got "10ms"',
  );
  assertEquals(
    (parseAgentConfigSpec({ credentialsSecretRef: { name: "c" } }) as string).startsWith(
      "spec.platformURL",
    ),
    true,
  );
});

Deno.test("mergeSettings() lays the spec over the file's settings", () => {
  const spec = parseAgentConfigSpec({
    platformURL: "https://crd.example.com",
    credentialsSecretRef: { name: "creds" },
    syncInterval: "30s",
    rateLimit: { burstSize: 50 },
  });
  assertEquals(mergeSettings(BASE, spec as never, "agent-system"), {
    ...BASE,
    url: "https://crd.example.com",
    credentialsSecretRef: "agent-system/creds",
    credentialsFile: "",
    syncIntervalMs: 30_000,
    burstSize: 50,
  });
});

Deno.test("agentConfigStatus() keeps a condition's transition time while it holds", () => {
  const state = {
    clusterUID: "u",
    leader: "node-1_ab",
    lastSyncAt: Date.parse("2026-12-01T10:00:00Z"),
    lastSnapshotAt: Date.parse("2026-12-01T09:59:00Z"),
    snapshotPending: false,
    resourceCounts: { Pod: 3 },
  };
  const first = agentConfigStatus(state, 2, undefined, new Date("2026-12-01T10:00:01Z"));
  assertEquals(first.lastSyncTime, "2026-12-01T10:00:00.000Z");
  const conditions = first.conditions as {
    type: string;
    status: string;
    lastTransitionTime: string;
  }[];
  assertEquals(conditions.map((c) => [c.type, c.status]), [["Available", "True"], [
    "Syncing",
    "True",
  ]]);
  const later = agentConfigStatus(
    { ...state, problem: { reason: "PlatformUnreachable", message: "down" } },
    2,
    conditions as never,
    new Date("2026-12-01T10:05:00Z"),
  );
  const after = later.conditions as {
    type: string;
    status: string;
    reason: string;
    lastTransitionTime: string;
  }[];
  assertEquals([after[0]!.status, after[0]!.reason, after[0]!.lastTransitionTime], [
    "False",
    "PlatformUnreachable",
    "2026-12-01T10:05:00.000Z",
  ]);
  assertEquals(after[1]!.lastTransitionTime, "2026-12-01T10:00:01.000Z");
});
