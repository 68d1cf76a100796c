/**
 * Milvus-shaped objects for the emulator: pods of Helm and operator installs, with
 * restarts and terminations, and the operator's `Milvus` resource.
 *
 * @module
 */
import type { Json } from "./_match.ts";

/** Options of {@linkcode milvusPod}. */
export interface PodOptions {
  namespace?: string;
  node?: string;
  component?: string;
  restarts?: number;
  /** Last termination of the container: reason and exit code. */
  terminated?: { reason: string; exitCode: number; finishedAt?: string; message?: string };
  ready?: boolean;
  extraLabels?: Record<string, string>;
}

/** A pod of a Helm release `release` (chart milvus-4.1.0). */
export function helmPod(release: string, name: string, options: PodOptions = {}): Json {
  return pod(name, {
    "app.kubernetes.io/name": "milvus",
    "app.kubernetes.io/instance": release,
    "helm.sh/chart": "milvus-4.1.0",
    "app.kubernetes.io/managed-by": "Helm",
    ...(options.component ? { component: options.component } : {}),
    ...options.extraLabels,
  }, options);
}

/** A pod of the milvus-operator instance `instance`. */
export function operatorPod(instance: string, name: string, options: PodOptions = {}): Json {
  return pod(name, {
    "app.kubernetes.io/managed-by": "milvus-operator",
    "app.kubernetes.io/instance": instance,
    "milvus.io/instance": instance,
    ...(options.component ? { "app.kubernetes.io/component": options.component } : {}),
    ...options.extraLabels,
  }, options);
}

/** Any pod with `labels`. */
export function pod(name: string, labels: Record<string, string>, options: PodOptions = {}): Json {
  const terminated = options.terminated;
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace: options.namespace ?? "milvus", labels },
    spec: {
      nodeName: options.node ?? "node-1",
      containers: [{ name: "main", image: "milvusdb/milvus:v2.4.0" }],
    },
    status: {
      phase: "Running",
      containerStatuses: [{
        name: "main",
        ready: options.ready ?? true,
        restartCount: options.restarts ?? 0,
        state: { running: { startedAt: "2026-11-22T00:00:00Z" } },
        ...(terminated
          ? {
            lastState: {
              terminated: {
                reason: terminated.reason,
                exitCode: terminated.exitCode,
                finishedAt: terminated.finishedAt ?? "2026-11-22T00:00:00Z",
                ...(terminated.message ? { message: terminated.message } : {}),
              },
            },
          }
          : {}),
      }],
    },
  };
}

/** The operator's `Milvus` resource. */
export function milvusResource(name: string, namespace = "milvus", status = "Healthy"): Json {
  return {
    apiVersion: "milvus.io/v1beta1",
    kind: "Milvus",
    metadata: { name, namespace },
    spec: { mode: "cluster" },
    status: { status },
  };
}

/** The objects of a small Milvus Helm release `release`, as its chart would render them. */
export function helmManifestObjects(release: string, namespace = "milvus"): Json[] {
  const labels = {
    "app.kubernetes.io/name": "milvus",
    "app.kubernetes.io/instance": release,
    "helm.sh/chart": "milvus-4.1.0",
  };
  const meta = (name: string, extra: Json = {}) => ({ name, namespace, labels, ...extra });
  // As much of a workload's spec as a real API server requires.
  const workload = (name: string) => ({
    replicas: 1,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: { containers: [{ name: "main", image: "milvusdb/milvus:v2.4.0" }] },
    },
  });
  return [
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: meta(`${release}-milvus`),
      data: { "milvus.yaml": "a: 1" },
    },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: meta(`${release}-milvus`),
      spec: { ports: [{ port: 19530 }] },
    },
    {
      apiVersion: "apps/v1",
      kind: "StatefulSet",
      metadata: meta(`${release}-milvus-querynode`),
      spec: workload(`${release}-milvus-querynode`),
    },
    {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: meta(`${release}-milvus-proxy`),
      spec: workload(`${release}-milvus-proxy`),
    },
    {
      apiVersion: "v1",
      kind: "PersistentVolumeClaim",
      metadata: meta(`${release}-milvus-data`, {
        annotations: { "helm.sh/resource-policy": "keep" },
      }),
      spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } },
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: `${release}-milvus-reader`, labels },
      rules: [],
    },
  ];
}

/**
 * Installs a Helm release into an API server the way Helm 3 would leave it: the rendered
 * objects, and one release Secret per revision (`sh.helm.release.v1.NAME.vN`, its
 * `data.release` base64 of base64 of gzipped release JSON).
 */
export async function installHelmRelease(
  emu: { put(object: Json): Json | Promise<Json> },
  release: string,
  namespace = "milvus",
  revisions = 2,
  objects: Json[] = helmManifestObjects(release, namespace),
): Promise<Json[]> {
  const { gzipSync } = await import("node:zlib");
  for (const object of objects) await emu.put(structuredClone(object));
  const { stringify } = await import("yaml");
  const manifest = objects.map((o) =>
    `---\n# Source: milvus/templates/${String(o.kind).toLowerCase()}.yaml\n${stringify(o)}`
  )
    .join("");
  for (let version = 1; version <= revisions; version++) {
    const record = {
      name: release,
      namespace,
      version,
      info: { status: version === revisions ? "deployed" : "superseded" },
      chart: { metadata: { name: "milvus", version: "4.1.0" } },
      manifest,
    };
    const gz = gzipSync(new TextEncoder().encode(JSON.stringify(record)));
    const inner = btoa(String.fromCharCode(...gz));
    await emu.put({
      apiVersion: "v1",
      kind: "Secret",
      type: "helm.sh/release.v1",
      metadata: {
        name: `sh.helm.release.v1.${release}.v${version}`,
        namespace,
        labels: {
          owner: "helm",
          name: release,
          version: String(version),
          status: record.info.status,
        },
      },
      data: { release: btoa(inner) },
    });
  }
  return objects;
}

/**
 * A throwaway CA and a certificate signed by it, made with `openssl`: for 127.0.0.1, or for the
 * names of `san` (`DNS:kubernetes.default.svc`).
 */
export async function makeTls(
  dir: string,
  san = "IP:127.0.0.1",
): Promise<{ cert: string; key: string; ca: string }> {
  await Deno.writeTextFile(`${dir}/san.ext`, `subjectAltName=${san}\n`);
  const steps = [
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
      "-days",
      "1",
      "-subj",
      "/CN=agent-test-ca",
    ],
    [
      "req",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      "server.key",
      "-out",
      "server.csr",
      "-subj",
      "/CN=127.0.0.1",
    ],
    [
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.crt",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.crt",
      "-days",
      "1",
      "-extfile",
      "san.ext",
    ],
  ];
  for (const args of steps) {
    const out = await new Deno.Command("openssl", {
      args,
      cwd: dir,
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!out.success) {
      throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
    }
  }
  const read = (name: string) => Deno.readTextFile(`${dir}/${name}`);
  return {
    cert: await read("server.crt"),
    key: await read("server.key"),
    ca: await read("ca.crt"),
  };
}
