import { assertEquals } from "../../tests/support/assert.ts";
import { collectNode } from "./mod.ts";
import { createFilesystemCollector, parseMountinfo, STUCK_RETRY_MS } from "./filesystem.ts";
import { ffiStatfs, spawnStatfs } from "./_statfs.ts";
import { runCommand } from "../run.ts";
import { fakeStat, HOST, hostStatfs, pathsAt, samples, value, withHost } from "./_testing.ts";

const ROOT = HOST.replace(/\/$/, "");

Deno.test("filesystem collector by stat -f stats the host's mounts in one process", async () => {
  const run = fakeStat(hostStatfs(HOST));
  const { families, problems } = await collectNode(
    [createFilesystemCollector({ statfs: spawnStatfs() })],
    pathsAt(HOST),
    { run },
  );
  // Every mount at once; /proc, /sys, /dev, cgroups and devpts are left out.
  assertEquals(run.calls, [[`${ROOT}/`, `${ROOT}/mnt/sandboxing/model_tools_env/v1/python`]]);
  const root = { device: "/dev/vda", mountpoint: "/", fstype: "ext4" };
  assertEquals(value(families, "node_filesystem_size_bytes", root), 4096 * 66053021);
  assertEquals(value(families, "node_filesystem_free_bytes", root), 4096 * 62070172);
  assertEquals(value(families, "node_filesystem_avail_bytes", root), 4096 * 19892957);
  assertEquals(value(families, "node_filesystem_files", root), 16777216);
  assertEquals(value(families, "node_filesystem_files_free", root), 16334636);
  assertEquals(value(families, "node_filesystem_readonly", root), 0);
  assertEquals(value(families, "node_filesystem_device_error", root), 0);
  // Mounted "ro": read-only.
  assertEquals(value(families, "node_filesystem_readonly", { fstype: "tmpfs" }), 1);
  assertEquals([...problems], []);
});

Deno.test("parseMountinfo() decodes escaped mount points and reads ro from either option list", () => {
  const mounts = parseMountinfo(
    "40 27 8:1 / /mnt/my\\040disk rw,relatime shared:1 - ext4 /dev/sdb1 rw\n" +
      "41 27 8:2 / /data\\011tab\\134x ro,relatime - xfs /dev/sdc1 rw,attr2\n" +
      "42 27 8:3 /sub /srv rw master:2 propagate_from:1 - ext4 /dev/my\\040dev ro,errors=remount-ro\n" +
      "43 27 0:50 / /bad rw no-separator ext4\n",
  );
  assertEquals(mounts, [
    { device: "/dev/sdb1", mountPoint: "/mnt/my disk", fsType: "ext4", readOnly: false },
    { device: "/dev/sdc1", mountPoint: "/data\ttab\\x", fsType: "xfs", readOnly: true },
    { device: "/dev/my dev", mountPoint: "/srv", fsType: "ext4", readOnly: true },
  ]);
});

Deno.test("filesystem collector labels a mount point with spaces as the host has it, and stats it", () =>
  withHost(async (root) => {
    const base = root.replace(/\/$/, "");
    await Deno.writeTextFile(
      `${root}proc/1/mountinfo`,
      "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n" +
        "50 27 8:1 / /mnt/my\\040disk rw,relatime - ext4 /dev/sdb1 rw\n" +
        // Stacked on the same point with the same labels: one series, as node_exporter.
        "51 27 8:1 / /mnt/my\\040disk rw,relatime - ext4 /dev/sdb1 rw\n" +
        "52 27 0:60 / /run/credentials/x.service ro - tmpfs tmpfs ro\n" +
        "53 27 0:61 / /var/lib/docker/overlay2/abc/merged rw - overlay overlay rw\n" +
        "54 27 0:62 / /home rw - autofs systemd-1 rw\n" +
        "garbage\n",
    );
    const run = fakeStat({
      [`${base}/`]: [4096, 100, 50, 40, 1000, 900],
      [`${base}/mnt/my disk`]: [1024, 10, 5, 4, 100, 90],
    });
    const { families, problems } = await collectNode(
      [createFilesystemCollector({ statfs: spawnStatfs() })],
      pathsAt(root),
      { run },
    );
    assertEquals(run.calls, [[`${base}/`, `${base}/mnt/my disk`]]);
    assertEquals(
      samples(families, "node_filesystem_size_bytes").map((s) => [s.labels.mountpoint, s.value]),
      [["/", 409600], ["/mnt/my disk", 10240]],
    );
    assertEquals([...problems], [[`${root}proc/1/mountinfo`, 'malformed line "garbage"']]);
  }));

Deno.test("filesystem collector reports a mount statfs refuses as a device error, the rest as usual", () =>
  withHost(async (root) => {
    const table = hostStatfs(root);
    const python = Object.keys(table)[1]!;
    delete table[python];
    const { families, problems } = await collectNode(
      [createFilesystemCollector({ statfs: spawnStatfs() })],
      pathsAt(root),
      { run: fakeStat(table) },
    );
    assertEquals(value(families, "node_filesystem_device_error", { fstype: "tmpfs" }), 1);
    assertEquals(value(families, "node_filesystem_size_bytes", { fstype: "tmpfs" }), undefined);
    assertEquals(value(families, "node_filesystem_device_error", { fstype: "ext4" }), 0);
    assertEquals([...problems], [[python, "statfs: No such file or directory"]]);
  }));

Deno.test("filesystem collector finds the mount that hangs, and leaves it alone for a while", () =>
  withHost(async (root) => {
    const table: Record<string, ReturnType<typeof hostStatfs>[string] | "hang"> = hostStatfs(root);
    const [slash, python] = Object.keys(table) as [string, string];
    table[python] = "hang";
    const run = fakeStat(table);
    let now = 1_000_000;
    const collector = createFilesystemCollector({ statfs: spawnStatfs(() => now) });
    const first = await collectNode([collector], pathsAt(root), { run });
    // The run of both hung; each alone then: the root answers, the other hangs.
    assertEquals(run.calls, [[slash, python], [slash], [python]]);
    assertEquals(value(first.families, "node_filesystem_device_error", { fstype: "tmpfs" }), 1);
    assertEquals(value(first.families, "node_filesystem_device_error", { fstype: "ext4" }), 0);
    assertEquals(first.problems.get(python), "statfs did not answer in 3000 ms");

    run.calls.length = 0;
    now += STUCK_RETRY_MS - 1;
    const second = await collectNode([collector], pathsAt(root), { run });
    assertEquals(run.calls, [[slash]]);
    assertEquals(value(second.families, "node_filesystem_device_error", { fstype: "tmpfs" }), 1);

    run.calls.length = 0;
    now += 1;
    table[python] = [4096, 1, 1, 1, 10, 9];
    const third = await collectNode([collector], pathsAt(root), { run });
    assertEquals(run.calls, [[slash, python]]);
    assertEquals(value(third.families, "node_filesystem_device_error", { fstype: "tmpfs" }), 0);
  }));

Deno.test("filesystem collector reads its own mounts under the root path where PID 1 is hidden", () =>
  withHost(async (root) => {
    const base = root.replace(/\/$/, "");
    await Deno.remove(`${root}proc/1/mountinfo`);
    await Deno.mkdir(`${root}proc/self`);
    await Deno.writeTextFile(
      `${root}proc/self/mountinfo`,
      "1 0 0:40 / / rw - overlay overlay rw\n" +
        `2 1 254:0 / ${base} ro - ext4 /dev/vda rw\n` +
        `3 2 8:1 / ${base}/var/lib/kubelet rw - xfs /dev/sdb rw\n`,
    );
    const run = fakeStat({
      [`${base}/`]: [4096, 100, 50, 40, 1000, 900],
      [`${base}/var/lib/kubelet`]: [4096, 200, 50, 40, 1000, 900],
    });
    const { families } = await collectNode(
      [createFilesystemCollector({ statfs: spawnStatfs() })],
      pathsAt(root),
      { run },
    );
    assertEquals(
      samples(families, "node_filesystem_readonly").map((s) => [s.labels.mountpoint, s.value]),
      [["/", 1], ["/var/lib/kubelet", 0]],
    );
  }));

for (const [how, statfs] of [["stat -f", spawnStatfs], ["libc's statfs", ffiStatfs]] as const) {
  Deno.test({
    name: `filesystem collector reads the real ${how}, mount points with a space and a newline too`,
    ignore: statfs() === undefined,
    fn: () =>
      withHost(async (root) => {
        await Deno.mkdir(`${root}a b`);
        await Deno.mkdir(`${root}c\nd`);
        await Deno.writeTextFile(
          `${root}proc/1/mountinfo`,
          "27 1 254:0 / / rw - ext4 /dev/vda rw\n" +
            "28 27 254:0 / /a\\040b rw - ext4 /dev/vda rw\n" +
            // Not kept in memory: asked on a thread, with a timeout.
            "29 27 254:0 / /c\\012d rw - nfs4 server:/export rw\n",
        );
        const { families, problems } = await collectNode(
          [createFilesystemCollector({ statfs: statfs()! })],
          pathsAt(root),
        );
        const sizes = samples(families, "node_filesystem_size_bytes");
        assertEquals(sizes.map((s) => s.labels.mountpoint), ["/", "/a b", "/c\nd"]);
        // The same filesystem under all three: the same size, and more than nothing.
        assertEquals(new Set(sizes.map((s) => s.value)).size, 1);
        assertEquals(sizes[0]!.value > 0, true);
        assertEquals([...problems], []);
      }),
  });
}

Deno.test({
  name: "libc's statfs and stat -f agree on this host's root filesystem",
  ignore: ffiStatfs() === undefined,
  fn: async () => {
    const context = {
      paths: pathsAt("/"),
      options: { topProcesses: 0, cpuFlags: [] },
      run: runCommand,
      warn: (source: string, reason: string) => {
        throw new Error(`${source}: ${reason}`);
      },
    };
    const targets = [{ path: "/", fsType: "ext4" }, { path: "/", fsType: "nfs" }];
    const [byFfi, bySpawn] = await Promise.all([
      ffiStatfs()!(context, targets),
      spawnStatfs()(context, targets),
    ]);
    // Sizes and inode counts do not move; free space may between the two.
    assertEquals(byFfi.get("/")?.size, bySpawn.get("/")?.size);
    assertEquals(byFfi.get("/")?.files, bySpawn.get("/")?.files);
  },
});

Deno.test("libc's statfs leaves a mount whose call hangs alone until the call returns", () =>
  withHost(async (root) => {
    const base = root.replace(/\/$/, "");
    let release = () => {};
    const calls: string[] = [];
    const answer = (path: Uint8Array, buffer: Uint8Array) => {
      calls.push(new TextDecoder().decode(path.subarray(0, -1)));
      const view = new DataView(buffer.buffer);
      view.setBigUint64(8, 4096n, true);
      view.setBigUint64(16, 10n, true);
      return 0;
    };
    const symbols = {
      statfs: answer,
      statfsOnThread: (path: Uint8Array<ArrayBuffer>, buffer: Uint8Array<ArrayBuffer>) => {
        // The NFS mount hangs until released; others answer.
        if (new TextDecoder().decode(path).startsWith(`${base}/nfs`)) {
          calls.push(`${base}/nfs`);
          return new Promise<number>((resolve) => {
            release = () => resolve(0);
          });
        }
        return Promise.resolve(answer(path, buffer));
      },
    };
    await Deno.writeTextFile(
      `${root}proc/1/mountinfo`,
      "27 1 254:0 / / rw - ext4 /dev/vda rw\n28 27 0:90 / /nfs rw - nfs4 server:/export rw\n",
    );
    const collector = createFilesystemCollector({
      statfs: ffiStatfs({ symbols, timeoutMs: 50 })!,
    });
    const first = await collectNode([collector], pathsAt(root));
    assertEquals(calls, [`${base}/`, `${base}/nfs`]);
    assertEquals(value(first.families, "node_filesystem_device_error", { fstype: "nfs4" }), 1);
    assertEquals(value(first.families, "node_filesystem_size_bytes", { fstype: "ext4" }), 40960);
    assertEquals(first.problems.get(`${base}/nfs`), "statfs did not answer in 50 ms");
    // Its call still hangs: not asked again.
    calls.length = 0;
    const second = await collectNode([collector], pathsAt(root));
    assertEquals(calls, [`${base}/`]);
    assertEquals(value(second.families, "node_filesystem_device_error", { fstype: "nfs4" }), 1);
    // Once it returned, asked as any other.
    release();
    // A turn of the event loop: the returned call's `finally` has run (no time involved).
    await new Promise((resolve) => setTimeout(resolve, 0));
    calls.length = 0;
    await collectNode([collector], pathsAt(root));
    assertEquals(calls, [`${base}/`, `${base}/nfs`]);
  }));
