/**
 * The Kubernetes API emulator, checked by the real `kubectl` (and by raw watch requests
 * where kubectl does not expose the protocol: resuming, bookmarks, 410 Gone). The plain kubectl
 * checks also run on a real API server when one is built: the emulator must answer as it does.
 */
import {
  assert,
  assertEquals,
  assertMatch,
  assertStringIncludes,
  withTempDir,
} from "./support/assert.ts";
import { haveCommand, skipNotice } from "./support/cores.ts";
import type { Json } from "./support/kube/_match.ts";
import { KubeEmulator } from "./support/kube/emulator.ts";
import { summary, type WatchEvents, watchEvents } from "./support/kube/watch_events.ts";
import { type KubeCluster, kubeServers } from "./support/kube_servers.ts";

const noKubectl = skipNotice("kubectl", haveCommand("kubectl"));

function pod(name: string, labels: Record<string, string>, restarts = 0, node = "node-1"): Json {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: "milvus", labels },
    spec: { nodeName: node, containers: [{ name: "main", image: "milvusdb/milvus:v2.4.0" }] },
    status: {
      phase: "Running",
      containerStatuses: [{
        name: "main",
        ready: true,
        restartCount: restarts,
        state: { running: {} },
      }],
    },
  };
}

const servers = kubeServers({ ignore: noKubectl, emulator: { bookmarkIntervalMs: 100 } });

/** Runs one test on `kube` holding a `milvus` namespace, with a kubectl bound to it. */
function onCluster(
  kube: KubeCluster,
  fn: (kube: KubeCluster, kubectl: (...args: string[]) => Promise<Run>) => Promise<void>,
) {
  return withTempDir(async (dir) => {
    await kube.put({ apiVersion: "v1", kind: "Namespace", metadata: { name: "milvus" } });
    const kubeconfig = await kube.writeKubeconfig(`${dir}/kubeconfig`, "milvus");
    await fn(kube, (...args) => kubectl(dir, kubeconfig, args));
  });
}

/** Runs one test with an emulator holding a `milvus` namespace, and a kubectl bound to it. */
function withCluster(
  fn: (emu: KubeEmulator, kubectl: (...args: string[]) => Promise<Run>) => Promise<void> | void,
) {
  return withTempDir(async (dir) => {
    const emu = await KubeEmulator.start({ bookmarkIntervalMs: 100 });
    try {
      emu.put({ apiVersion: "v1", kind: "Namespace", metadata: { name: "milvus" } });
      const kubeconfig = await emu.writeKubeconfig(`${dir}/kubeconfig`, "milvus");
      await fn(emu, (...args) => kubectl(dir, kubeconfig, args));
    } finally {
      await emu.close();
    }
  });
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function kubectl(home: string, kubeconfig: string, args: string[]): Promise<Run> {
  const out = await new Deno.Command("kubectl", {
    args: ["--kubeconfig", kubeconfig, ...args],
    env: { HOME: home },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}

servers.test("kubectl lists pods as JSON and as a table", (kube) =>
  onCluster(kube, async (kube, kubectl) => {
    await kube.put(pod("milvus-querynode-0", { "app.kubernetes.io/name": "milvus" }, 3));
    await kube.put(pod("etcd-0", { app: "etcd" }));
    const listed = await kubectl("get", "pods", "-A", "-o", "json");
    assertEquals(listed.code, 0, listed.stderr);
    const list = JSON.parse(listed.stdout);
    assertEquals(list.items.map((p: Json) => (p.metadata as Json).name), [
      "etcd-0",
      "milvus-querynode-0",
    ]);
    assertMatch((list.items[0].metadata as Json).resourceVersion as string, /^\d+$/);
    const table = await kubectl("get", "pods");
    assertEquals(table.code, 0, table.stderr);
    assertMatch(table.stdout, /^NAME +READY +STATUS +RESTARTS +AGE\n/);
    assertMatch(table.stdout, /milvus-querynode-0 +1\/1 +Running +3 +\d+s/);
  }));

servers.test("kubectl selects by label and by field", (kube) =>
  onCluster(kube, async (kube, kubectl) => {
    await kube.put(
      pod("a", { "app.kubernetes.io/name": "milvus", component: "querynode" }, 0, "node-1"),
    );
    await kube.put(
      pod("b", { "app.kubernetes.io/name": "milvus", component: "datanode" }, 0, "node-2"),
    );
    await kube.put(pod("c", { app: "etcd" }, 0, "node-1"));
    const names = async (...args: string[]) => {
      const run = await kubectl(
        "get",
        "pods",
        "-o",
        "jsonpath={.items[*].metadata.name}",
        ...args,
      );
      assertEquals(run.code, 0, run.stderr);
      return run.stdout;
    };
    assertEquals(await names("-l", "app.kubernetes.io/name=milvus"), "a b");
    assertEquals(await names("-l", "component in (datanode,indexnode)"), "b");
    assertEquals(await names("-l", "!component"), "c");
    assertEquals(await names("--field-selector", "spec.nodeName=node-1"), "a c");
    assertEquals(
      await names(
        "-l",
        "app.kubernetes.io/name=milvus",
        "--field-selector",
        "spec.nodeName=node-1",
      ),
      "a",
    );
    const bad = await kubectl("get", "pods", "-l", "a=(b");
    assert(bad.code !== 0);
  }));

/**
 * The complete lines of `stream` as they arrive, and a wait for the lines to satisfy a test.
 * kubectl writes a table row in several writes (one per cell), so a read can end inside a
 * line: only whole lines are kept, and a wait ends at the line that satisfies it, not after
 * a fixed number of polls.
 */
function lineReader(stream: ReadableStream<Uint8Array>) {
  const lines: string[] = [];
  let ended = false;
  let changed = () => {};
  const done = (async () => {
    let partial = "";
    for await (const text of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (partial + text).split("\n");
      partial = parts.pop()!;
      lines.push(...parts.filter(Boolean));
      changed();
    }
    if (partial) lines.push(partial);
    ended = true;
    changed();
  })();
  /** Waits until `test(lines)` holds; fails if the stream ends first or after `ms` (a bound). */
  async function until(test: (lines: string[]) => boolean, what: string, ms = 60_000) {
    const deadline = Date.now() + ms;
    while (!test(lines)) {
      const left = deadline - Date.now();
      if (ended || left <= 0) {
        throw new Error(
          `${ended ? "kubectl ended" : "timed out"} waiting for ${what}; it printed:\n${
            lines.join("\n")
          }`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        changed = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
  return { lines, until, done };
}

Deno.test({
  name: "kubectl get -w shows a restart and a deletion as they happen",
  ignore: noKubectl,
  fn: () =>
    withCluster(async (emu, kubectl) => {
      emu.put(pod("milvus-querynode-0", {}, 0));
      const home = await Deno.makeTempDir();
      const config = await emu.writeKubeconfig(`${home}/kubeconfig`, "milvus");
      const watch = new Deno.Command("kubectl", {
        args: ["--kubeconfig", config, "get", "pods", "-w", "--request-timeout=0"],
        env: { HOME: home },
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const output = lineReader(watch.stdout);
      const rows = (restarts: number) => (lines: string[]) =>
        lines.filter((l) => new RegExp(`^milvus-querynode-0 +1/1 +Running +${restarts} `).test(l))
          .length;
      try {
        await output.until((l) => rows(0)(l) === 1, "the listed pod");
        assertMatch(output.lines[0]!, /^NAME +READY +STATUS +RESTARTS +AGE$/);
        // Put after kubectl listed: its watch starts from the list's resourceVersion, so the
        // restart reaches it whether the watch is open yet or not.
        emu.put(pod("milvus-querynode-0", {}, 1));
        await output.until((l) => rows(1)(l) === 1, "the restart");
        const deleted = await kubectl("delete", "pod", "milvus-querynode-0");
        assertEquals(deleted.stdout, 'pod "milvus-querynode-0" deleted\n');
        assertEquals(emu.get("pods", "milvus", "milvus-querynode-0"), undefined);
        // kubectl prints the pod once more for its DELETED event.
        await output.until((l) => rows(1)(l) === 2, "the deletion");
        assertEquals(output.lines.length, 4, output.lines.join("\n"));
      } finally {
        watch.kill();
        await output.done;
        await watch.status;
        await watch.stderr.cancel();
        await Deno.remove(home, { recursive: true });
      }
    }),
});

Deno.test({
  name: "kubectl creates the manifests, patches and reads logs",
  ignore: noKubectl,
  fn: () =>
    withCluster(async (emu, kubectl) => {
      const created = await kubectl(
        "create",
        "-k",
        new URL("../manifests/", import.meta.url).pathname,
      );
      assertEquals(created.code, 0, created.stderr);
      for (
        const line of [
          "namespace/agent-system",
          "serviceaccount/agent",
          "clusterrole.rbac.authorization.k8s.io/agent",
          "clusterrolebinding.rbac.authorization.k8s.io/agent",
          "configmap/agent-config",
          "daemonset.apps/agent",
        ]
      ) {
        assertStringIncludes(created.stdout, `${line} created`);
      }
      assert(emu.get("configmaps", "agent-system", "agent-config"), "the ConfigMap is stored");
      assert(emu.get("clusterroles", undefined, "agent"), "the ClusterRole is stored");
      const daemonset = emu.get("daemonsets", "agent-system", "agent")!;
      const container = ((daemonset.spec as Json).template as Json).spec as Json;
      assertEquals(((container.containers as Json[])[0]!.args as string[])[0], "daemon");
      const again = await kubectl(
        "create",
        "-k",
        new URL("../manifests/", import.meta.url).pathname,
      );
      assertStringIncludes(again.stderr, "AlreadyExists");

      emu.put(pod("milvus-querynode-0", { app: "milvus" }));
      const merge = await kubectl(
        "patch",
        "pod",
        "milvus-querynode-0",
        "-p",
        '{"metadata":{"labels":{"x":"y"}}}',
      );
      assertEquals(merge.code, 0, merge.stderr);
      const json = await kubectl(
        "patch",
        "pod",
        "milvus-querynode-0",
        "--type=json",
        "-p",
        '[{"op":"remove","path":"/metadata/labels/app"}]',
      );
      assertEquals(json.code, 0, json.stderr);
      assertEquals((emu.get("pods", "milvus", "milvus-querynode-0")!.metadata as Json).labels, {
        x: "y",
      });

      emu.setLog(
        "milvus",
        "milvus-querynode-0",
        "main",
        "starting\nquery\npanic: segment 42 is corrupt\n",
        true,
      );
      const logs = await kubectl("logs", "milvus-querynode-0", "--previous", "--tail=1");
      assertEquals([logs.code, logs.stdout], [0, "panic: segment 42 is corrupt\n"]);
      const none = await kubectl("logs", "milvus-querynode-0");
      assertStringIncludes(none.stderr, 'container "main" in pod "milvus-querynode-0" not found');
    }),
});

Deno.test({
  name: "kubectl sees injected failures and a restarted server with its state",
  ignore: noKubectl,
  fn: () =>
    withCluster(async (emu, kubectl) => {
      emu.put(pod("p", {}));
      emu.failNext(1, { path: "/api/v1/namespaces/milvus/pods/p" });
      const failed = await kubectl("get", "pod", "p", "-o", "name");
      assert(failed.code !== 0, "an injected 500 fails the request");
      await emu.stop();
      const down = await kubectl("get", "pod", "p", "-o", "name", "--request-timeout=2s");
      assertStringIncludes(down.stderr, "was refused");
      await emu.restart();
      const back = await kubectl("get", "pod", "p", "-o", "name");
      assertEquals(back.stdout, "pod/p\n");
    }),
});

async function openWatch(emu: KubeEmulator, query: string): Promise<WatchEvents> {
  return watchEvents(await fetch(`${emu.url}/api/v1/namespaces/milvus/pods?watch=1&${query}`));
}

Deno.test("watches resume from a resourceVersion, send bookmarks, and answer 410 past the history", () =>
  withCluster(async (emu) => {
    emu.put(pod("a", {}));
    const rv = emu.resourceVersion;
    emu.put(pod("b", {}));
    emu.remove("pods", "milvus", "a");
    const resumed = await openWatch(emu, `resourceVersion=${rv}&allowWatchBookmarks=true`);
    assertEquals([summary(await resumed.next()), summary(await resumed.next())], [
      "ADDED b",
      "DELETED a",
    ]);
    emu.put(pod("b", {}, 1));
    assertEquals(summary(await resumed.next()), "MODIFIED b");
    const bookmark = await resumed.next();
    assertEquals(bookmark?.type, "BOOKMARK");
    assertEquals(
      ((bookmark!.object as Json).metadata as Json).resourceVersion,
      emu.resourceVersion,
    );
    emu.closeWatches();
    assertEquals(await resumed.next(), undefined);

    emu.compact();
    const expired = await openWatch(emu, `resourceVersion=${rv}`);
    const error = await expired.next();
    assertEquals(error?.type, "ERROR");
    assertEquals([(error!.object as Json).code, (error!.object as Json).reason], [410, "Expired"]);
    assertEquals(await expired.next(), undefined);
  }));

Deno.test("a selector watch sees objects enter and leave its selection", () =>
  withCluster(async (emu) => {
    const watch = await openWatch(emu, "labelSelector=app%3Dmilvus&resourceVersion=0");
    emu.put(pod("p", { app: "other" }));
    emu.put(pod("p", { app: "milvus" }));
    emu.put(pod("p", { app: "other" }));
    assertEquals([summary(await watch.next()), summary(await watch.next())], [
      "ADDED p",
      "DELETED p",
    ]);
    emu.silenceWatches();
    emu.put(pod("p", { app: "milvus" }));
    const quiet = await Promise.race([
      watch.next(),
      new Promise((r) => setTimeout(() => r("silent"), 300)),
    ]);
    assertEquals(quiet, "silent");
    await watch.close();
  }));

Deno.test("deleting an owner deletes what it owns, deleting a namespace its contents", () =>
  withCluster((emu) => {
    const owner = emu.put({
      apiVersion: "apps/v1",
      kind: "StatefulSet",
      metadata: { name: "querynode", namespace: "milvus" },
    });
    const owned = pod("querynode-0", {});
    (owned.metadata as Json).ownerReferences = [{
      apiVersion: "apps/v1",
      kind: "StatefulSet",
      name: "querynode",
      uid: (owner.metadata as Json).uid,
    }];
    emu.put(owned);
    emu.put(pod("standalone", {}));
    emu.remove("statefulsets", "milvus", "querynode");
    assertEquals(emu.list("pods", "milvus").map((p) => (p.metadata as Json).name), ["standalone"]);
    emu.remove("namespaces", undefined, "milvus");
    assertEquals(emu.list("pods"), []);
  }));
