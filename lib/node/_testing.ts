/**
 * What the collectors' tests share: the captured host tree, a copy of it to edit, a sample's
 * value by labels, and a `stat -f` that answers from a table instead of the disk.
 *
 * @module
 */
import type { MetricFamily } from "../prom/mod.ts";
import { runCommand, type Runner, type RunOptions, type RunResult } from "../run.ts";
import type { CollectServices, NodeCollector, NodePaths } from "./collector.ts";
import {
  createFilesystemCollector,
  createNetstatCollector,
  createProcessesCollector,
  NODE_COLLECTORS,
} from "./mod.ts";
import { spawnStatfs } from "./_statfs.ts";

/**
 * A host tree captured from a real machine (this project's CI host: 2 CPUs, one virtio disk,
 * `lo`, `eth0` and two `ifb` devices, one NUMA node), with hand-made processes of two pods
 * (cgroupfs and systemd drivers), a zombie with parentheses in its name, a udev record and
 * the kubelet's log directories.
 */
export const HOST: string = new URL("./testdata/host/", import.meta.url).pathname;

/** The paths of a tree at `root` (ending in `/`), as the DaemonSet mounts a host's. */
export function pathsAt(root: string): NodePaths {
  return { proc: `${root}proc`, sys: `${root}sys`, dev: `${root}dev`, rootfs: root };
}

/** The value of the first sample of `name` whose labels include `labels`. */
export function value(
  families: MetricFamily[],
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  return samples(families, name).find((s) =>
    Object.entries(labels).every(([key, v]) => s.labels[key] === v)
  )?.value;
}

/** The samples of `name` (none when there is no such family). */
export function samples(families: MetricFamily[], name: string): MetricFamily["samples"] {
  return families.find((f) => f.name === name)?.samples ?? [];
}

/** Copies the captured tree to `dir` and lets `edit` change it; returns the copy's root. */
export async function hostCopy(
  dir: string,
  edit: (root: string) => Promise<void>,
): Promise<string> {
  const copy = async (from: string, to: string) => {
    await Deno.mkdir(to, { recursive: true });
    for await (const entry of Deno.readDir(from)) {
      if (entry.isDirectory) await copy(`${from}/${entry.name}`, `${to}/${entry.name}`);
      else await Deno.copyFile(`${from}/${entry.name}`, `${to}/${entry.name}`);
    }
  };
  await copy(HOST, dir);
  await edit(`${dir}/`);
  return `${dir}/`;
}

/** Runs `fn` on a fresh copy of the captured tree (its root, ending in `/`), then removes it. */
export async function withHost<T>(fn: (root: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "agent-node-test-" });
  try {
    return await fn(await hostCopy(dir, () => Promise.resolve()));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** statfs numbers: block size, blocks, free, available, inodes, free inodes. */
export type StatfsRow = [number, number, number, number, number, number];

/**
 * A runner for the filesystem collector's `stat -f --printf ... -- PATH...`: each path in
 * `table` answers its row; `"hang"` makes the whole run time out with nothing written (as a
 * killed `stat` whose output was still buffered); any other path fails as a missing one
 * does. Records every call's paths in `calls`.
 */
export function fakeStat(
  table: Record<string, StatfsRow | "hang">,
): ((command: string, options: RunOptions) => Promise<RunResult>) & { calls: string[][] } {
  const calls: string[][] = [];
  const run = (command: string, options: RunOptions): Promise<RunResult> => {
    if (command !== "stat") throw new Deno.errors.NotFound(`no program ${command}`);
    const paths = options.args.slice(options.args.indexOf("--") + 1);
    calls.push(paths);
    const encoder = new TextEncoder();
    if (paths.some((path) => table[path] === "hang")) {
      return Promise.resolve({
        code: -1,
        stdout: new Uint8Array(),
        stderr: new Uint8Array(),
        timedOut: true,
      });
    }
    let stdout = "";
    let stderr = "";
    for (const path of paths) {
      const row = table[path];
      if (row === undefined || row === "hang") {
        stderr +=
          `stat: cannot read file system information for '${path}': No such file or directory\n`;
      } else {
        stdout += `${path}\0${row.join(" ")}\0`;
      }
    }
    return Promise.resolve({
      code: stderr === "" ? 0 : 1,
      stdout: encoder.encode(stdout),
      stderr: encoder.encode(stderr),
      timedOut: false,
    });
  };
  return Object.assign(run, { calls });
}

/** The statfs answers for the captured tree's mounts at `root` (its `/` and one tmpfs). */
export function hostStatfs(root: string): Record<string, StatfsRow> {
  const base = root.replace(/\/+$/, "");
  return {
    [`${base}/`]: [4096, 66053021, 62070172, 19892957, 16777216, 16334636],
    [`${base}/mnt/sandboxing/model_tools_env/v1/python`]: [4096, 1, 1, 1, 3085510, 3085509],
  };
}

/**
 * Every collector, the stateful ones new (each test its own memory), the filesystem's asking
 * `stat -f` through the runner (tests pass {@linkcode fakeStat}), netstat's reading
 * `/proc/net/tcp` only.
 */
export function freshCollectors(): NodeCollector[] {
  return NODE_COLLECTORS.map((collector) =>
    collector.name === "filesystem"
      ? createFilesystemCollector({ statfs: spawnStatfs() })
      : collector.name === "processes"
      ? createProcessesCollector()
      : collector.name === "netstat"
      ? createNetstatCollector({ sockDiag: null })
      : collector
  );
}

/**
 * What the daemon hands the collectors that read more than files, for the captured host: the
 * filesystem's `stat -f` answered by {@linkcode fakeStat}, the stand-in `nvidia-smi` replaying
 * an A100 node, and a quiet kernel log.
 */
export function hostServices(root: string): CollectServices & { run: Runner } {
  const stat = fakeStat(hostStatfs(root));
  const bin = new URL("../../tests/support/bin", import.meta.url).pathname;
  return {
    run: (command, options) =>
      command === "stat" ? stat(command, options) : runCommand(command, {
        ...options,
        env: {
          PATH: `${bin}:${Deno.env.get("PATH") ?? ""}`,
          NVIDIA_SMI_FIXTURE: new URL("./testdata/nvidia-smi/a100", import.meta.url).pathname,
        },
      }),
    kernelLog: {
      stats: () => ({
        records: 0,
        lost: 0,
        overruns: 0,
        oomKills: { none: 0, cpuset: 0, memory_policy: 0, memcg: 0 },
        segfaults: 0,
        hungTasks: 0,
      }),
      unavailable: () => undefined,
    },
  };
}
