import { assert, assertEquals } from "../../tests/support/assert.ts";
import { fakeCri, grpcError, recordingLogger, sandbox } from "../../tests/support/fake_cri.ts";
import type { LogLine } from "../../tests/support/fake_cri.ts";
import { CriClient } from "./cri.ts";
import { ContainerMetadataCache, imageName } from "./cri_containers.ts";

const ID = (n: number) => String(n).repeat(64).slice(0, 64);
const NGINX = `sha256:${"e".repeat(64)}`;

function container(id: string, sandboxId: string, extra: Record<string, unknown> = {}) {
  return {
    id,
    podSandboxId: sandboxId,
    metadata: { name: "web", attempt: 1 },
    image: { image: NGINX, annotations: {}, userSpecifiedImage: "", runtimeHandler: "" },
    imageRef: NGINX,
    state: "CONTAINER_RUNNING",
    createdAt: "1700000000123456789",
    labels: {},
    annotations: {},
    ...extra,
  };
}

Deno.test("imageName() prefers what the user wrote, then a name, then the image's first tag", () => {
  const images = new Map([[NGINX, {
    id: NGINX,
    repoTags: ["docker.io/library/nginx:1.27"],
    repoDigests: [],
  }]]);
  const base = { image: NGINX, userSpecifiedImage: "", imageRef: NGINX };
  assertEquals(imageName(base, images), "docker.io/library/nginx:1.27");
  assertEquals(imageName({ ...base, userSpecifiedImage: "nginx:1.27" }, images), "nginx:1.27");
  assertEquals(
    imageName({ ...base, image: "registry.k8s.io/pause:3.9" }, images),
    "registry.k8s.io/pause:3.9",
  );
  assertEquals(imageName(base, new Map()), NGINX);
});

Deno.test("ContainerMetadataCache names containers and sandboxes from one listing", async () => {
  const fake = await fakeCri({
    ListPodSandbox: () => ({
      items: [sandbox(ID(1), { runtimeHandler: "" }), sandbox(ID(2), { runtimeHandler: "kata" })],
    }),
    ListContainers: () => ({
      containers: [
        container(ID(3), ID(1)),
        // A sandbox the runtime no longer lists: kubelet's labels say who it is.
        container(ID(4), ID(9), {
          metadata: null,
          image: { image: "busybox:1.36", annotations: {}, userSpecifiedImage: "" },
          labels: {
            "io.kubernetes.container.name": "side",
            "io.kubernetes.pod.name": "old-0",
            "io.kubernetes.pod.namespace": "batch",
            "io.kubernetes.pod.uid": "uid-old",
          },
        }),
      ],
    }),
    ListImages: () => ({
      images: [{ id: NGINX, repoTags: ["docker.io/library/nginx:1.27"], repoDigests: [] }],
    }),
  });
  const client = new CriClient(fake.socket);
  try {
    const cache = new ContainerMetadataCache({ client, minIntervalMs: 60_000 });
    cache.notice([ID(3)]);
    await cache.settled();
    assertEquals(cache.stats().refreshes, 1);
    assertEquals(cache.container(ID(3)), {
      id: ID(3),
      container: "web",
      pod: `pod-${ID(1)}`,
      namespace: "default",
      podUid: `uid-${ID(1)}`,
      image: "docker.io/library/nginx:1.27",
      sandboxId: ID(1),
      runtimeHandler: "",
    });
    assertEquals(cache.container(ID(4))?.container, "side");
    assertEquals(cache.container(ID(4))?.pod, "old-0");
    assertEquals(cache.container(ID(4))?.image, "busybox:1.36");
    assertEquals(cache.container(ID(2))?.container, "", "a sandbox is its pod's pause container");
    assertEquals(cache.container(ID(2))?.runtimeHandler, "kata");
    assertEquals(cache.pod(`uid-${ID(2)}`)?.sandboxIds, [ID(2)]);
    assertEquals(fake.calls.ListImages, 1);

    // Known ids, or an unknown one within the interval, list nothing more.
    cache.notice([ID(3), ID(4)]);
    cache.notice([ID(7)]);
    await cache.settled();
    assertEquals(fake.calls.ListContainers, 1);
  } finally {
    await client.close();
    await fake.close();
  }
});

Deno.test("ContainerMetadataCache lists again for a new id after the interval, never for a miss", async () => {
  let containers = [container(ID(3), ID(1))];
  const fake = await fakeCri({
    ListPodSandbox: () => ({ items: [sandbox(ID(1))] }),
    ListContainers: () => ({ containers }),
    ListImages: () => ({ images: [] }),
  });
  const client = new CriClient(fake.socket);
  try {
    let now = 0;
    const cache = new ContainerMetadataCache({ client, minIntervalMs: 5000, now: () => now });
    cache.notice([ID(3), ID(8)]);
    await cache.settled();
    assertEquals(cache.stats().refreshes, 1);
    now = 10_000;
    // ID(8) is no CRI container (the cgroup of something else): noticing it again lists nothing.
    cache.notice([ID(3), ID(8)]);
    await cache.settled();
    assertEquals(cache.stats().refreshes, 1);
    containers = [...containers, container(ID(5), ID(1))];
    cache.notice([ID(3), ID(8), ID(5)]);
    await cache.settled();
    assertEquals(cache.container(ID(5))?.container, "web");
    // Within the interval, a new id waits.
    now = 12_000;
    cache.notice([ID(6)]);
    await cache.settled();
    assertEquals(cache.stats().refreshes, 2);
  } finally {
    await client.close();
    await fake.close();
  }
});

Deno.test("ContainerMetadataCache keeps what it knew when the runtime fails, and says so once", async () => {
  let fail = false;
  const fake = await fakeCri({
    ListPodSandbox: () => ({ items: [sandbox(ID(1))] }),
    ListContainers: () => {
      if (fail) throw grpcError(12, "unknown service runtime.v1.RuntimeService");
      return { containers: [container(ID(3), ID(1))] };
    },
    ListImages: () => ({ images: [] }),
  });
  const client = new CriClient(fake.socket);
  const lines: LogLine[] = [];
  try {
    const cache = new ContainerMetadataCache({
      client,
      minIntervalMs: 0,
      logger: recordingLogger(lines),
    });
    await cache.refresh();
    fail = true;
    for (let i = 0; i < 3; i++) await cache.refresh().catch(() => {});
    assertEquals(cache.container(ID(3))?.container, "web");
    assertEquals(cache.stats().failures, 3);
    assertEquals(lines.filter((l) => l.level === "warn").length, 1);
    assert(
      String(lines[0]!.fields?.error).includes("12 UNIMPLEMENTED"),
      String(lines[0]!.fields?.error),
    );
    fail = false;
    await cache.refresh();
    assertEquals(lines.at(-1)?.message, "Container metadata from the CRI runtime recovered");
  } finally {
    await client.close();
    await fake.close();
  }
});
