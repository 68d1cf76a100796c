/**
 * A real Kubernetes API server for tests: `etcd` and `kube-apiserver` (built by
 * `scripts/build_kube.ts`) on 127.0.0.1, with serving certificates made by `openssl`, a static
 * token file (an admin in `system:masters`, and the agent's ServiceAccount
 * `agent-system/agent`), `--authorization-mode=RBAC`, the ServiceAccount issuer and key flags
 * (so that `kubectl create token` works), and optionally an audit log of every request. No
 * controller manager, scheduler or kubelet runs: what they would do (a namespace's `default`
 * ServiceAccount, a pod's status) the harness does as the admin.
 *
 * @module
 */
import { makeTls } from "../kube/fixtures.ts";
import { freePort } from "../net.ts";
import { builtBinaries, type KubeBinaries } from "./binaries.ts";
import { KindResolver } from "./_kinds.ts";

type Json = Record<string, unknown>;

/** Options of {@linkcode RealKube.start}. */
export interface RealKubeOptions {
  /** Write an audit log (level Metadata, every request) that {@linkcode RealKube.audit} reads. */
  audit?: boolean;
  /**
   * Serve watches and lists from the watch cache (default), as every cluster does; without it
   * they go to etcd, which is what `etcdctl compact` then shows.
   */
  watchCache?: boolean;
}

/** One request of the audit log, as {@linkcode RealKube.audit} returns it. */
export interface AuditRecord {
  user: string;
  verb: string;
  /** `group/resource[/subresource]`, the group empty for the core API. */
  resource: string;
  namespace: string | null;
  name: string | null;
  code: number;
  uri: string;
}

/** The identities of the static token file. */
export type KubeUser = "admin" | "agent";

/** The agent's ServiceAccount, as `manifests/` creates it. */
export const AGENT_SERVICE_ACCOUNT = "system:serviceaccount:agent-system:agent";

const AUDIT_POLICY = [
  "apiVersion: audit.k8s.io/v1",
  "kind: Policy",
  "omitStages: [RequestReceived]",
  "rules:",
  "  - level: Metadata",
  "",
].join("\n");

/** A running process whose stdout and stderr go to `LOG.out` and `LOG`. */
class Logged {
  readonly done: Promise<Deno.CommandStatus>;
  #exited = false;

  constructor(readonly child: Deno.ChildProcess, readonly log: string) {
    const sink = (path: string) => Deno.openSync(path, { write: true, create: true }).writable;
    this.done = Promise.all([
      child.stdout.pipeTo(sink(`${log}.out`)),
      child.stderr.pipeTo(sink(log)),
    ]).then(() => child.status).then((status) => {
      this.#exited = true;
      return status;
    });
  }

  get exited(): boolean {
    return this.#exited;
  }

  async stop(): Promise<void> {
    if (!this.#exited) {
      try {
        this.child.kill("SIGTERM");
      } catch {
        // Exited meanwhile.
      }
    }
    await this.done;
  }

  async tail(lines = 30): Promise<string> {
    const text = await Deno.readTextFile(this.log).catch(() => "");
    return text.trimEnd().split("\n").slice(-lines).join("\n");
  }
}

/**
 * Runs a server under a shell that kills it when SIGTERM comes, and also when this test process
 * is gone without stopping it (killed, or crashed): an orphaned API server would hold half a
 * gigabyte on a shared machine. Killed, not stopped gracefully: kube-apiserver drains open
 * watches for up to a minute, and a test's servers keep nothing worth a clean shutdown.
 */
const GUARD = [
  '"$@" & child=$!',
  `tail --pid=${Deno.pid} -f /dev/null & watch=$!`,
  "trap 'kill -KILL $child 2>/dev/null' TERM",
  "wait -n $child $watch",
  "kill -KILL $child 2>/dev/null; kill $watch 2>/dev/null",
  "wait $child",
].join("\n");

function spawn(command: string, args: string[], log: string): Logged {
  const child = new Deno.Command("bash", {
    args: ["-c", GUARD, "guard", command, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  return new Logged(child, log);
}

function randomToken(): string {
  return [...crypto.getRandomValues(new Uint8Array(24))]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
}

async function openssl(dir: string, args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd: dir, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
}

/** A real API server and its etcd, stopped by {@linkcode RealKube.close}. */
export class RealKube {
  readonly #dir: string;
  readonly #binaries: KubeBinaries;
  readonly #tokens: Record<KubeUser, string>;
  readonly #http: Deno.HttpClient;
  readonly #kinds: KindResolver;
  readonly #audit: boolean;
  readonly #watchCache: boolean;
  readonly #ports: { etcd: number; peer: number; api: number };
  #etcd: Logged | undefined;
  #apiserver: Logged | undefined;
  /** The CA that signed the serving certificate (PEM). */
  readonly ca: string;

  private constructor(
    dir: string,
    binaries: KubeBinaries,
    ca: string,
    options: RealKubeOptions,
  ) {
    this.#dir = dir;
    this.#binaries = binaries;
    this.ca = ca;
    this.#audit = options.audit ?? false;
    this.#watchCache = options.watchCache ?? true;
    this.#tokens = { admin: randomToken(), agent: randomToken() };
    this.#http = Deno.createHttpClient({ caCerts: [ca] });
    this.#ports = { etcd: freePort(), peer: freePort(), api: freePort() };
    this.#kinds = new KindResolver((path) => this.json("GET", path));
  }

  /**
   * Why a real API server cannot run here (the binaries are not built, or openssl is missing),
   * or `undefined` when it can.
   */
  static unavailable(): string | undefined {
    const built = builtBinaries();
    if ("missing" in built) return `kube-apiserver and etcd are ${built.missing}`;
    const openssl = new Deno.Command("sh", {
      args: ["-c", "command -v openssl"],
      stdout: "null",
    }).outputSync();
    if (!openssl.success) return "openssl is not installed";
    return undefined;
  }

  /**
   * Starts etcd and kube-apiserver in a new temporary directory and waits until `/readyz`
   * answers 200.
   *
   * @throws {Error} when the binaries are not built or a server does not come up (with the
   * end of its log).
   */
  static async start(options: RealKubeOptions = {}): Promise<RealKube> {
    const built = builtBinaries();
    if ("missing" in built) throw new Error(`kube-apiserver and etcd are ${built.missing}`);
    const dir = await Deno.makeTempDir({ prefix: "agent-kube-" });
    let kube: RealKube | undefined;
    try {
      const tls = await makeTls(dir);
      await openssl(dir, [
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        "sa.key",
      ]);
      await openssl(dir, ["pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub"]);
      kube = new RealKube(dir, built, tls.ca, options);
      await kube.#writeFiles();
      await kube.#startEtcd();
      await kube.startApiserver();
      return kube;
    } catch (error) {
      // etcd may be up while the API server is not: stop what started.
      if (kube) await kube.close().catch(() => {});
      else await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw error;
    }
  }

  /** `https://127.0.0.1:PORT`. */
  get url(): string {
    return `https://127.0.0.1:${this.#ports.api}`;
  }

  /** etcd's client URL. */
  get etcdUrl(): string {
    return `http://127.0.0.1:${this.#ports.etcd}`;
  }

  /** The bearer token of `user` in the static token file. */
  token(user: KubeUser): string {
    return this.#tokens[user];
  }

  async #writeFiles(): Promise<void> {
    const d = this.#dir;
    await Deno.writeTextFile(
      `${d}/tokens.csv`,
      `${this.#tokens.admin},admin,admin,"system:masters"\n` +
        `${this.#tokens.agent},${AGENT_SERVICE_ACCOUNT},agent,` +
        `"system:serviceaccounts,system:serviceaccounts:agent-system"\n`,
    );
    await Deno.writeTextFile(`${d}/audit-policy.yaml`, AUDIT_POLICY);
  }

  async #startEtcd(): Promise<void> {
    const { etcd, peer } = this.#ports;
    this.#etcd = spawn(this.#binaries.etcd, [
      "--name=test",
      `--data-dir=${this.#dir}/etcd`,
      `--listen-client-urls=http://127.0.0.1:${etcd}`,
      `--advertise-client-urls=http://127.0.0.1:${etcd}`,
      `--listen-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-cluster=test=http://127.0.0.1:${peer}`,
      // A test's data need not survive a power cut; fsync on a busy disk costs seconds.
      "--unsafe-no-fsync",
      "--log-level=warn",
    ], `${this.#dir}/etcd.log`);
    await this.#waitUntil(this.#etcd, "etcd", async () => {
      const response = await fetch(`${this.etcdUrl}/health`);
      const body = await response.json() as { health?: string };
      return body.health === "true";
    });
  }

  /** Starts kube-apiserver (again, after {@linkcode stopApiserver}) on the same port and etcd. */
  async startApiserver(): Promise<void> {
    const d = this.#dir;
    const args = [
      `--etcd-servers=${this.etcdUrl}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${this.#ports.api}`,
      `--cert-dir=${d}/certs`,
      `--tls-cert-file=${d}/server.crt`,
      `--tls-private-key-file=${d}/server.key`,
      `--token-auth-file=${d}/tokens.csv`,
      "--authorization-mode=RBAC",
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${d}/sa.pub`,
      `--service-account-signing-key-file=${d}/sa.key`,
      "--service-cluster-ip-range=10.96.0.0/24",
      // No endpoints to reconcile without nodes; the tests compact etcd themselves.
      "--endpoint-reconciler-type=none",
      "--etcd-compaction-interval=0",
      "--profiling=false",
      ...(this.#watchCache ? [] : ["--watch-cache=false"]),
      ...(this.#audit
        ? [`--audit-policy-file=${d}/audit-policy.yaml`, `--audit-log-path=${d}/audit.log`]
        : []),
    ];
    this.#apiserver = spawn(this.#binaries.kubeApiserver, args, `${d}/kube-apiserver.log`);
    await this.#waitUntil(this.#apiserver, "kube-apiserver", async () => {
      const response = await this.fetch("/readyz");
      await response.body?.cancel();
      return response.status === 200;
    });
  }

  /** Kills kube-apiserver, as a crash would (etcd keeps running). */
  async stopApiserver(): Promise<void> {
    await this.#apiserver?.stop();
  }

  /** Polls `ready` until it holds; fails with the end of the log when the process exits. */
  async #waitUntil(process: Logged, name: string, ready: () => Promise<boolean>): Promise<void> {
    // Generous: on a loaded two-core machine kube-apiserver takes tens of seconds to start.
    const until = Date.now() + 240_000;
    while (!process.exited && Date.now() < until) {
      if (await ready().catch(() => false)) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    const why = process.exited ? "exited" : "is not ready after 240 s";
    throw new Error(`${name} ${why}; the end of its log:\n${await process.tail()}`);
  }

  /** A request to the API server as `user` (default admin). */
  fetch(path: string, init: RequestInit = {}, user: KubeUser = "admin"): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${this.#tokens[user]}`);
    return fetch(`${this.url}${path}`, { ...init, headers, client: this.#http });
  }

  /**
   * A JSON request as `user` (default admin).
   *
   * @throws {Error} with the status and the server's message when it is not 2xx.
   */
  async json<T = Json>(
    method: string,
    path: string,
    body?: unknown,
    user: KubeUser = "admin",
  ): Promise<T> {
    const response = await this.fetch(path, {
      method,
      ...(body === undefined ? {} : {
        body: JSON.stringify(body),
        headers: { "content-type": "application/json" },
      }),
    }, user);
    const text = await response.text();
    if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${text}`);
    return JSON.parse(text) as T;
  }

  /**
   * Creates or replaces an object as a controller or kubelet would: labels, annotations and
   * the content are replaced, a pod keeps its (immutable) spec, and `status` is written through
   * the status subresource. A new namespace gets its `default` ServiceAccount.
   */
  async put(object: Json): Promise<Json> {
    const metadata = (object.metadata ?? {}) as Json;
    const where = await this.#kinds.path(
      String(object.apiVersion),
      String(object.kind),
      metadata.namespace as string | undefined,
    );
    const path = `${where.collection}/${metadata.name}`;
    const { status, ...content } = structuredClone(object);
    const response = await this.fetch(path);
    let stored: Json;
    if (response.status === 404) {
      await response.body?.cancel();
      stored = await this.json("POST", where.collection, content);
      if (object.kind === "Namespace") {
        await this.json("POST", `/api/v1/namespaces/${metadata.name}/serviceaccounts`, {
          apiVersion: "v1",
          kind: "ServiceAccount",
          metadata: { name: "default" },
        });
      }
    } else {
      const existing = await response.json() as Json;
      const old = existing.metadata as Json;
      const next: Json = {
        ...content,
        metadata: {
          ...old,
          labels: metadata.labels ?? {},
          annotations: metadata.annotations ?? {},
          ownerReferences: metadata.ownerReferences ?? [],
        },
      };
      if (object.kind === "Pod") next.spec = existing.spec;
      stored = await this.json("PUT", path, next);
    }
    if (status !== undefined && where.status) {
      stored = await this.json("PUT", `${path}/status`, { ...stored, status });
    }
    return stored;
  }

  /**
   * Creates a CustomResourceDefinition and waits until the server serves it (`Established`).
   *
   * @throws {Error} when the server refuses it or its names are not accepted.
   */
  async installCrd(crd: Json): Promise<void> {
    const name = String((crd.metadata as Json).name);
    await this.json("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd);
    const until = Date.now() + 60_000;
    for (;;) {
      const stored = await this.json(
        "GET",
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`,
      );
      const conditions = ((stored.status as Json | undefined)?.conditions ?? []) as Json[];
      const holds = (type: string) =>
        conditions.some((c) => c.type === type && c.status === "True");
      if (holds("Established")) return;
      if (conditions.some((c) => c.type === "NamesAccepted" && c.status === "False")) {
        throw new Error(`CustomResourceDefinition ${name}: ${JSON.stringify(conditions)}`);
      }
      if (Date.now() > until) throw new Error(`CustomResourceDefinition ${name} not established`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Reads an object, or `undefined`. */
  async get(
    plural: string,
    namespace: string | undefined,
    name: string,
  ): Promise<Json | undefined> {
    const where = await this.#kinds.pathOfPlural(plural, namespace);
    const response = await this.fetch(`${where.collection}/${name}`);
    if (response.status === 404) {
      await response.body?.cancel();
      return undefined;
    }
    if (!response.ok) throw new Error(`GET ${plural}/${name}: ${response.status}`);
    return await response.json() as Json;
  }

  /** Lists objects of a type (by plural), optionally in one namespace. */
  async list(plural: string, namespace?: string): Promise<Json[]> {
    const where = await this.#kinds.pathOfPlural(plural, namespace);
    return (await this.json<{ items: Json[] }>("GET", where.collection)).items;
  }

  /** Deletes an object at once (no grace period: no kubelet runs); returns whether it existed. */
  async remove(plural: string, namespace: string | undefined, name: string): Promise<boolean> {
    const where = await this.#kinds.pathOfPlural(plural, namespace);
    const response = await this.fetch(`${where.collection}/${name}?gracePeriodSeconds=0`, {
      method: "DELETE",
    });
    await response.body?.cancel();
    if (response.status === 404) return false;
    if (!response.ok) throw new Error(`DELETE ${plural}/${name}: ${response.status}`);
    return true;
  }

  /**
   * Writes a kubeconfig for `user` (default admin; or any bearer token, e.g. one from
   * `kubectl create token`) with the CA and `namespace`; returns `path`.
   */
  async writeKubeconfig(
    path: string,
    namespace = "default",
    user: KubeUser | { token: string } = "admin",
  ): Promise<string> {
    const token = typeof user === "string" ? this.#tokens[user] : user.token;
    const config = [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "- name: real",
      "  cluster:",
      `    server: ${this.url}`,
      `    certificate-authority-data: ${btoa(this.ca)}`,
      "users:",
      "- name: user",
      "  user:",
      `    token: ${token}`,
      "contexts:",
      "- name: real",
      "  context:",
      "    cluster: real",
      "    user: user",
      `    namespace: ${namespace}`,
      "current-context: real",
      "",
    ].join("\n");
    await Deno.writeTextFile(path, config);
    return path;
  }

  /**
   * Runs `etcdctl` against this etcd.
   *
   * @throws {Error} when it fails.
   */
  async etcdctl(...args: string[]): Promise<string> {
    const out = await new Deno.Command(this.#binaries.etcdctl, {
      args: [`--endpoints=${this.etcdUrl}`, ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder();
    if (!out.success) throw new Error(`etcdctl ${args.join(" ")}: ${text.decode(out.stderr)}`);
    return text.decode(out.stdout);
  }

  /** etcd's current revision (what Kubernetes calls the resourceVersion). */
  async revision(): Promise<number> {
    const status = JSON.parse(await this.etcdctl("endpoint", "status", "-w", "json")) as {
      Status: { header: { revision: number } };
    }[];
    return status[0]!.Status.header.revision;
  }

  /**
   * The requests of the audit log so far (`audit: true` only), optionally of one user. The log
   * is written asynchronously: wait for a request you expect before relying on the rest.
   */
  async audit(user?: string): Promise<AuditRecord[]> {
    if (!this.#audit) throw new Error("this server was started without an audit log");
    const text = await Deno.readTextFile(`${this.#dir}/audit.log`).catch(() => "");
    const records: AuditRecord[] = [];
    const seen = new Set<string>();
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      const event = JSON.parse(line) as {
        auditID: string;
        verb: string;
        requestURI: string;
        user: { username: string };
        objectRef?: {
          apiGroup?: string;
          resource?: string;
          subresource?: string;
          namespace?: string;
          name?: string;
        };
        responseStatus?: { code: number };
      };
      // A watch is logged when it starts and again when it ends: count it once.
      if (seen.has(event.auditID)) continue;
      seen.add(event.auditID);
      if (user && event.user.username !== user) continue;
      const ref = event.objectRef;
      records.push({
        user: event.user.username,
        verb: event.verb,
        resource: ref?.resource
          ? `${ref.apiGroup ?? ""}/${ref.resource}${ref.subresource ? `/${ref.subresource}` : ""}`
          : "",
        namespace: ref?.namespace ?? null,
        name: ref?.name ?? null,
        code: event.responseStatus?.code ?? 0,
        uri: event.requestURI,
      });
    }
    return records;
  }

  /** Stops both servers and removes their directory. */
  async close(): Promise<void> {
    try {
      await this.#apiserver?.stop();
      await this.#etcd?.stop();
    } finally {
      this.#http.close();
      await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
    }
  }
}
