/**
 * The Kubernetes tests run against each API server available: the project's emulator always,
 * and a real `kube-apiserver` with etcd when `scripts/build_kube.ts` has built them (else those
 * tests are ignored, with the reason printed once). {@linkcode kubeServers} registers one test per
 * server; the test gets a {@linkcode KubeCluster}, which both servers implement, started before
 * and stopped after it.
 *
 * Both serve the operator's `Milvus` resource: the emulator natively, the real server through
 * the CustomResourceDefinition in `kube_real/testdata/milvus-crd.yaml`.
 *
 * @module
 */
import { parse } from "yaml";
import type { Json } from "./kube/_match.ts";
import { KubeEmulator, type KubeEmulatorOptions } from "./kube/emulator.ts";
import { RealKube } from "./kube_real/server.ts";

/** What a parameterized test may ask of an API server (as an administrator would). */
export interface KubeCluster {
  /** `emulator` or `kube-apiserver`. */
  readonly name: string;
  readonly url: string;
  /** Creates or replaces an object (a pod's status included), as a controller would. */
  put(object: Json): Promise<Json>;
  get(plural: string, namespace: string | undefined, name: string): Promise<Json | undefined>;
  list(plural: string, namespace?: string): Promise<Json[]>;
  /** Deletes at once; whether it existed. */
  remove(plural: string, namespace: string | undefined, name: string): Promise<boolean>;
  /** A kubeconfig with full access and `namespace` as the context's namespace. */
  writeKubeconfig(path: string, namespace?: string): Promise<string>;
  /** The emulator, for what only it does (fault injection, logs); undefined on a real server. */
  readonly emulator?: KubeEmulator;
  /** The real server, for what only it does (RBAC, etcd); undefined on the emulator. */
  readonly real?: RealKube;
}

/** Options of {@linkcode kubeServers}. */
export interface KubeTestOptions {
  /** Ignore on every server when this is true (e.g. a missing tool, already announced). */
  ignore?: boolean;
  /** How the emulator is started. */
  emulator?: KubeEmulatorOptions;
}

/** The emulator as a {@linkcode KubeCluster}. */
export function emulatorCluster(emu: KubeEmulator): KubeCluster {
  return {
    name: "emulator",
    get url() {
      return emu.url;
    },
    put: (object) => Promise.resolve(emu.put(object)),
    get: (plural, namespace, name) => Promise.resolve(emu.get(plural, namespace, name)),
    list: (plural, namespace) => Promise.resolve(emu.list(plural, namespace)),
    remove: (plural, namespace, name) => Promise.resolve(emu.remove(plural, namespace, name)),
    writeKubeconfig: (path, namespace) => emu.writeKubeconfig(path, namespace),
    emulator: emu,
  };
}

/** The Milvus CustomResourceDefinition the real server is given. */
export async function milvusCrd(): Promise<Json> {
  return parse(
    await Deno.readTextFile(new URL("./kube_real/testdata/milvus-crd.yaml", import.meta.url)),
  ) as Json;
}

function realCluster(kube: RealKube): KubeCluster {
  return {
    name: "kube-apiserver",
    url: kube.url,
    put: (object) => kube.put(object),
    get: (plural, namespace, name) => kube.get(plural, namespace, name),
    list: (plural, namespace) => kube.list(plural, namespace),
    remove: (plural, namespace, name) => kube.remove(plural, namespace, name),
    writeKubeconfig: (path, namespace) => kube.writeKubeconfig(path, namespace),
    real: kube,
  };
}

let announced = false;

/**
 * Why the real API server cannot run here, printed once as a `SKIP:` line; `undefined` when
 * it can.
 */
export function realKubeUnavailable(): string | undefined {
  const why = RealKube.unavailable();
  if (why && !announced) {
    announced = true;
    // deno-lint-ignore no-console
    console.warn(`SKIP: real Kubernetes API server tests: ${why}`);
  }
  return why;
}

/** Starts a real API server with the Milvus CRD installed. */
export async function startRealCluster(
  options: Parameters<typeof RealKube.start>[0] = {},
): Promise<RealKube> {
  const kube = await RealKube.start(options);
  try {
    await kube.installCrd(await milvusCrd());
    return kube;
  } catch (error) {
    await kube.close();
    throw error;
  }
}

/** Registers tests on each API server; see {@linkcode kubeServers}. */
export interface KubeServers {
  /**
   * Registers `name` once per API server: `NAME [emulator]` and `NAME [kube-apiserver]`; `fn`
   * gets the started server, stopped after it whatever happens.
   */
  test(name: string, fn: (kube: KubeCluster) => Promise<void>): void;
}

/**
 * The API servers, to register tests on with `.test(name, fn)` (a method, so that `deno fmt`
 * lays the calls out as it does `Deno.test`).
 *
 * @example Usage
 * ```ts ignore
 * const servers = kubeServers({ emulator: { bookmarkIntervalMs: 100 } });
 * servers.test("discover lists instances", async (kube) => {
 *   await kube.put(helmPod("prod", "prod-milvus-querynode-0"));
 * });
 * ```
 */
export function kubeServers(options: KubeTestOptions = {}): KubeServers {
  return {
    test(name, fn) {
      Deno.test({
        name: `${name} [emulator]`,
        ignore: options.ignore ?? false,
        fn: async () => {
          const emu = await KubeEmulator.start(options.emulator);
          try {
            await fn(emulatorCluster(emu));
          } finally {
            await emu.close();
          }
        },
      });
      Deno.test({
        name: `${name} [kube-apiserver]`,
        ignore: (options.ignore ?? false) || realKubeUnavailable() !== undefined,
        fn: async () => {
          const kube = await startRealCluster();
          try {
            await fn(realCluster(kube));
          } finally {
            await kube.close();
          }
        },
      });
    },
  };
}
