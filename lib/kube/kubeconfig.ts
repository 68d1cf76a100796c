/**
 * Finds how to reach the Kubernetes API, as kubectl does: `--kubeconfig`, else the files in
 * `KUBECONFIG`, else `~/.kube/config`, else the pod's service account (in-cluster). Handles
 * tokens, token files, client certificates, custom CAs, `insecure-skip-tls-verify` (with a
 * warning), `tls-server-name`, `proxy-url` and exec credential plugins.
 *
 * @module
 */
import { ConfigError, errorMessage, UnavailableError } from "../errors.ts";
import { redactUrls } from "../redact.ts";
import { runCommand, type Runner, type RunResult, text } from "../run.ts";
import {
  findKubeSource,
  type FindKubeSourceOptions,
  NO_KUBE_CONFIGURATION,
} from "../kube_source.ts";
import type { Transport } from "./_transport.ts";

/** Everything needed to send requests to one API server. */
export interface KubeTarget {
  /** Base URL of the API server, without a trailing slash. */
  server: string;
  /** The context's namespace, or `default`. */
  namespace: string;
  /** Where it came from, for messages: a file and context, or "in-cluster". */
  source: string;
  /**
   * Sends a request the way the cluster's settings ask (CA, client certificate, skipped
   * verification, server name, proxy); default: `fetch`.
   */
  fetch?: Transport["fetch"];
  /** What the user should know about the connection (verification skipped). */
  warnings?: string[];
  /** Authorization headers, refreshed as exec plugins and token files require. */
  headers(): Promise<Record<string, string>>;
}

/** Options of {@linkcode loadKubeTarget}. */
export interface LoadKubeTargetOptions extends FindKubeSourceOptions {
  context?: string;
  /** Runs exec credential plugins; default {@linkcode runCommand}. */
  run?: Runner;
}

type Tree = Record<string, unknown>;

function isTree(value: unknown): value is Tree {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Resolves the API server and credentials.
 *
 * @throws {UnavailableError} when no configuration is found at all.
 * @throws {ConfigError} when a kubeconfig is unreadable or lacks the chosen context.
 */
export async function loadKubeTarget(options: LoadKubeTargetOptions = {}): Promise<KubeTarget> {
  const source = await findKubeSource(options);
  if (source?.kind === "kubeconfig") {
    return await fromKubeconfig(source.files, options.context, source.explicit, options.run);
  }
  if (source?.kind === "in-cluster") return await inCluster(source.host, source.port, source.dir);
  throw new UnavailableError(NO_KUBE_CONFIGURATION);
}

/**
 * The HTTP transport (node:http, node:https, node:tls), loaded once a configuration is found:
 * a daemon on a node without cluster access never holds it.
 */
function transport(): Promise<typeof import("./_transport.ts")> {
  return import("./_transport.ts");
}

async function inCluster(host: string, port: string, dir: string): Promise<KubeTarget> {
  const server = `https://${host.includes(":") ? `[${host}]` : host}:${port}`;
  const ca = await Deno.readTextFile(`${dir}/ca.crt`).catch(() => undefined);
  const namespace = (await Deno.readTextFile(`${dir}/namespace`).catch(() => "default")).trim();
  const { createTransport } = await transport();
  return {
    server,
    namespace,
    source: "in-cluster service account",
    fetch: createTransport({ ca }).fetch,
    warnings: [],
    // The projected token is rotated by the kubelet: read it for every request.
    headers: async () => ({
      authorization: `Bearer ${(await Deno.readTextFile(`${dir}/token`)).trim()}`,
    }),
  };
}

async function fromKubeconfig(
  files: string[],
  contextName: string | undefined,
  explicit: boolean,
  run: Runner = runCommand,
): Promise<KubeTarget> {
  const { parse } = await import("yaml");
  const merged = {
    clusters: new Map<string, Tree>(),
    users: new Map<string, Tree>(),
    contexts: new Map<string, Tree>(),
  };
  let current: string | undefined;
  let read = 0;
  for (const file of files) {
    let text: string;
    try {
      text = await Deno.readTextFile(file);
    } catch (error) {
      if (!explicit && error instanceof Deno.errors.NotFound) continue;
      throw new ConfigError(
        `Cannot read kubeconfig "${file}": ${error instanceof Error ? error.message : error}`,
      );
    }
    let doc: unknown;
    try {
      doc = parse(text);
    } catch (error) {
      throw new ConfigError(
        `Invalid kubeconfig "${file}": ${
          error instanceof Error ? error.message.split("\n")[0] : error
        }`,
      );
    }
    if (!isTree(doc)) throw new ConfigError(`Invalid kubeconfig "${file}": expected a mapping`);
    read++;
    // As kubectl merges: the first file to define a name wins.
    for (const kind of ["clusters", "users", "contexts"] as const) {
      for (const entry of (doc[kind] as unknown[] | undefined) ?? []) {
        if (!isTree(entry) || typeof entry.name !== "string") continue;
        const body = entry[kind.slice(0, -1)];
        if (isTree(body) && !merged[kind].has(entry.name)) {
          merged[kind].set(entry.name, { ...body, __file: file });
        }
      }
    }
    current ??= typeof doc["current-context"] === "string" && doc["current-context"]
      ? doc["current-context"]
      : undefined;
  }
  if (read === 0) {
    throw new UnavailableError(`No Kubernetes configuration: none of ${files.join(", ")} exists`);
  }
  const name = contextName ?? current;
  if (!name) {
    throw new ConfigError(`Kubeconfig ${files.join(":")} sets no current-context: pass --context`);
  }
  const context = merged.contexts.get(name);
  if (!context) throw new ConfigError(`Kubeconfig ${files.join(":")} has no context "${name}"`);
  const cluster = merged.clusters.get(String(context.cluster));
  if (!cluster || typeof cluster.server !== "string") {
    throw new ConfigError(`Kubeconfig context "${name}" names no cluster with a server`);
  }
  const user = merged.users.get(String(context.user)) ?? {};
  const base = (path: unknown, file: unknown) =>
    typeof path === "string" && !path.startsWith("/")
      ? `${String(file).replace(/[^/]*$/, "")}${path}`
      : String(path);
  const pem = async (data: unknown, path: unknown, file: unknown) =>
    typeof data === "string"
      ? atob(data)
      : typeof path === "string"
      ? await Deno.readTextFile(base(path, file))
      : undefined;
  const ca = await pem(
    cluster["certificate-authority-data"],
    cluster["certificate-authority"],
    cluster.__file,
  );
  const cert = await pem(user["client-certificate-data"], user["client-certificate"], user.__file);
  const key = await pem(user["client-key-data"], user["client-key"], user.__file);
  const server = cluster.server.replace(/\/+$/, "");
  const https = server.startsWith("https:");
  const insecure = https && cluster["insecure-skip-tls-verify"] === true;
  // As client-go: a CA and skipped verification contradict each other.
  if (insecure && ca) {
    throw new ConfigError(
      `Kubeconfig context "${name}": certificate-authority and insecure-skip-tls-verify are both set; keep one (kubectl refuses both too)`,
    );
  }
  const serverName = typeof cluster["tls-server-name"] === "string" && cluster["tls-server-name"]
    ? cluster["tls-server-name"]
    : undefined;
  const proxy = proxyUrl(cluster["proxy-url"], name);
  const warnings = insecure
    ? [
      `Kubeconfig context "${name}": insecure-skip-tls-verify is set, so the API server's certificate is not verified`,
    ]
    : [];
  const { createTransport } = await transport();
  return {
    server,
    namespace: typeof context.namespace === "string" && context.namespace
      ? context.namespace
      : "default",
    source: `${files.join(":")} (context "${name}")`,
    fetch: createTransport({
      ...(https && ca ? { ca } : {}),
      ...(https && cert && key ? { cert, key } : {}),
      insecure,
      ...(https && serverName ? { serverName } : {}),
      ...(proxy ? { proxy } : {}),
    }).fetch,
    warnings,
    headers: credentials(user, name, run),
  };
}

/** A cluster's `proxy-url`: an http:// or https:// proxy, as client-go takes it. */
function proxyUrl(value: unknown, context: string): URL | undefined {
  if (value === undefined || value === "") return undefined;
  let url: URL | undefined;
  try {
    url = new URL(String(value));
  } catch {
    // Reported below.
  }
  if (!url || !["http:", "https:"].includes(url.protocol) || !url.hostname) {
    const scheme = url?.protocol.startsWith("socks") ? "; SOCKS proxies are not supported" : "";
    throw new ConfigError(
      redactUrls(
        `Kubeconfig context "${context}": invalid proxy-url "${value}": expected http://HOST:PORT or https://HOST:PORT${scheme}`,
      ),
    );
  }
  return url;
}

function credentials(
  user: Tree,
  context: string,
  run: Runner,
): () => Promise<Record<string, string>> {
  if (typeof user.token === "string") {
    const token = user.token;
    return () => Promise.resolve({ authorization: `Bearer ${token}` });
  }
  if (typeof user.tokenFile === "string") {
    const file = user.tokenFile;
    return async () => ({ authorization: `Bearer ${(await Deno.readTextFile(file)).trim()}` });
  }
  if (typeof user.username === "string" && typeof user.password === "string") {
    const basic = btoa(`${user.username}:${user.password}`);
    return () => Promise.resolve({ authorization: `Basic ${basic}` });
  }
  if (isTree(user.exec)) return execCredentials(user.exec, context, run);
  return () => Promise.resolve({});
}

/** An exec credential plugin (EKS, GKE, AKS): runs it, caches the token until it expires. */
function execCredentials(
  exec: Tree,
  context: string,
  run: Runner,
): () => Promise<Record<string, string>> {
  let cached: { token: string; expires: number } | undefined;
  return async () => {
    if (cached && cached.expires > Date.now() + 10_000) {
      return { authorization: `Bearer ${cached.token}` };
    }
    const command = String(exec.command);
    const env: Record<string, string> = {};
    for (const item of (exec.env as Tree[] | undefined) ?? []) {
      env[String(item.name)] = String(item.value);
    }
    env.KUBERNETES_EXEC_INFO = JSON.stringify({
      apiVersion: exec.apiVersion ?? "client.authentication.k8s.io/v1",
      kind: "ExecCredential",
      spec: { interactive: false },
    });
    let out: RunResult;
    try {
      out = await run(command, {
        args: ((exec.args as unknown[] | undefined) ?? []).map(String),
        env,
      });
    } catch (error) {
      throw new UnavailableError(
        `Kubeconfig context "${context}": cannot run credential plugin "${command}": ${
          errorMessage(error)
        }`,
      );
    }
    if (out.code !== 0) {
      const reason = text(out.stderr).trim().split("\n")[0];
      throw new UnavailableError(
        `Kubeconfig context "${context}": credential plugin "${command}" failed: ${reason}`,
      );
    }
    const status = (JSON.parse(text(out.stdout)) as Tree).status as
      | Tree
      | undefined;
    if (!status || typeof status.token !== "string") {
      throw new UnavailableError(
        `Kubeconfig context "${context}": credential plugin "${command}" returned no token`,
      );
    }
    const expires = typeof status.expirationTimestamp === "string"
      ? Date.parse(status.expirationTimestamp)
      : Infinity;
    cached = { token: status.token, expires };
    return { authorization: `Bearer ${status.token}` };
  };
}
