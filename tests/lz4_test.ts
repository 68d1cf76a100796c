/**
 * lz4-compressed cores, as systemd-coredump can store them (`.lz4`): `agent analyze core`
 * reads them like plain ones, and storing one recompresses it to what the store keeps.
 */
import { assert, assertEquals, assertRejects, withTempDir } from "./support/assert.ts";
import { analyzeJson, json, runAgent } from "./support/cli.ts";
import { haveCommand, haveGcc, haveGdb, sampleCores, skipNotice } from "./support/cores.ts";
import type { CollectResult } from "../cli/collect.ts";
import { InputError } from "../lib/errors.ts";
import { storeCompressed } from "../lib/store/compress.ts";

const noGcc = skipNotice("gcc", haveGcc());
const noGdb = skipNotice("gdb", haveGdb());
const noLz4 = skipNotice("lz4", haveCommand("lz4"));
const noZstd = skipNotice("zstd", haveCommand("zstd"));

/** Runs `sh -c script` with `args` as `$0`, `$1`…, and expects success. */
async function sh(script: string, ...args: string[]): Promise<void> {
  const run = await new Deno.Command("sh", { args: ["-c", script, ...args], stderr: "piped" })
    .output();
  assert(run.success, `${script}: ${new TextDecoder().decode(run.stderr)}`);
}

async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", await Deno.readFile(path));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test({
  name: "analyze core reads an lz4 core and gives the plain core's answer",
  ignore: noGcc || noLz4,
  fn: async () => {
    const { segv, threads } = await sampleCores();
    await withTempDir(async (dir) => {
      for (const crash of [segv, threads]) {
        const target = `${dir}/core.${crash.name}.1000.0.1234.1763800000000000.lz4`;
        await sh('lz4 -q -c "$0" > "$1"', crash.core, target);
        const plain = await analyzeJson([crash.core, "--no-gdb"]);
        const a = await analyzeJson([target, "--no-gdb"]);
        assertEquals(a.compression, "lz4");
        assertEquals(a.sizeBytes, (await Deno.stat(target)).size);
        assertEquals(a.coreBytes, plain.coreBytes);
        assertEquals(a.signal, plain.signal);
        assertEquals(a.crashReason, plain.crashReason);
        assertEquals(a.threadCount, plain.threadCount);
        assertEquals(a.warnings, [
          "lz4-compressed core: only its notes were unpacked, completeness not verified",
        ]);
      }
    });
  },
});

Deno.test({
  name: "analyze core unpacks an lz4 core for gdb and gives the same stack",
  ignore: noGcc || noGdb || noLz4,
  fn: async () => {
    const { fpe } = await sampleCores();
    await withTempDir(async (dir) => {
      // Linked 64 KiB blocks with block checksums: the options systemd does not use.
      await sh('lz4 -q -BD -B4 -BX -c "$0" > "$1"', fpe.core, `${dir}/core.lz4`);
      const plain = await analyzeJson([fpe.core]);
      const a = await analyzeJson([`${dir}/core.lz4`, "--exe", fpe.exe]);
      assertEquals(a.compression, "lz4");
      assertEquals(a.gdb.used, true);
      assertEquals(a.crashReason, plain.crashReason);
      assertEquals(a.stackTrace, plain.stackTrace);
      assertEquals(a.warnings, []);
      assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["core.lz4"]);
    });
  },
});

Deno.test({
  name: "analyze core names a corrupt lz4 core in one line",
  ignore: noGcc || noLz4,
  fn: async () => {
    const { segv } = await sampleCores();
    await withTempDir(async (dir) => {
      const path = `${dir}/core.lz4`;
      await sh('lz4 -q -c "$0" > "$1"', segv.core, path);
      const bytes = await Deno.readFile(path);
      await Deno.writeFile(path, bytes.subarray(0, 200));
      const cut = await runAgent(["analyze", "core", path, "--no-gdb"]);
      assertEquals(cut.code, 2);
      assertEquals(
        cut.stderr,
        `Cannot read core "${path}": lz4 data is corrupt (Truncated lz4 stream: it ends inside a block at input byte 200)\n`,
      );
      bytes.fill(0x55, 40, 140);
      await Deno.writeFile(path, bytes);
      const corrupt = await runAgent(["analyze", "core", path, "--no-gdb"]);
      assertEquals(corrupt.code, 2);
      assertEquals(corrupt.stderr.split("\n").filter(Boolean).length, 1, corrupt.stderr);
      assert(
        corrupt.stderr.startsWith(`Cannot read core "${path}": lz4 data is corrupt (Corrupt lz4`),
        corrupt.stderr,
      );
    });
  },
});

Deno.test({
  name: "storeCompressed() stores an lz4 core as zstd that unpacks to the original core",
  ignore: noGcc || noLz4 || noZstd,
  fn: async () => {
    const { threads } = await sampleCores();
    await withTempDir(async (dir) => {
      await sh('lz4 -q -c "$0" > "$1"', threads.core, `${dir}/core.lz4`);
      const size = (await Deno.stat(`${dir}/core.lz4`)).size;
      const stored = await storeCompressed(`${dir}/core.lz4`, `${dir}/core.zst`, {
        compression: "zstd",
        sourceCompression: "lz4",
        expectedSourceBytes: size,
      });
      assertEquals(stored.copied, false);
      assertEquals(stored.sourceBytes, size);
      assertEquals(stored.bytes, (await Deno.stat(`${dir}/core.zst`)).size);
      assertEquals(stored.sha256, await sha256(`${dir}/core.zst`));
      await sh('zstd -q -d -c "$0" > "$1"', `${dir}/core.zst`, `${dir}/back`);
      assertEquals(await sha256(`${dir}/back`), await sha256(threads.core));
    });
  },
});

Deno.test({
  name: "storeCompressed() refuses a corrupt lz4 core as bad input and leaves nothing behind",
  ignore: noGcc || noLz4,
  fn: async () => {
    const { segv } = await sampleCores();
    await withTempDir(async (dir) => {
      await sh('lz4 -q -BX -c "$0" > "$1"', segv.core, `${dir}/core.lz4`);
      const bytes = await Deno.readFile(`${dir}/core.lz4`);
      bytes[bytes.length >> 1]! ^= 0xff;
      await Deno.writeFile(`${dir}/core.lz4`, bytes);
      await Deno.mkdir(`${dir}/store`);
      await assertRejects(
        () =>
          storeCompressed(`${dir}/core.lz4`, `${dir}/store/core.zst`, {
            compression: "zstd",
            sourceCompression: "lz4",
          }),
        InputError,
        `Cannot read core "${dir}/core.lz4": Corrupt lz4 frame: checksum mismatch in block`,
      );
      assertEquals([...Deno.readDirSync(`${dir}/store`)], []);
    });
  },
});

Deno.test({
  name: "collect stores a systemd-coredump lz4 core as zstd that unpacks to the original core",
  ignore: noGcc || noLz4 || noZstd,
  fn: async () => {
    const { abort } = await sampleCores();
    await withTempDir(async (dir) => {
      await Deno.mkdir(`${dir}/in`);
      const name = "core.abort.1000.5e3f0c1a2b3c4d5e6f708192a3b4c5d6.4242.1763800000000000.lz4";
      // As systemd-coredump writes it: linked 256 KiB blocks, no checksum.
      await sh('lz4 -q -B5 -BD --no-frame-crc -c "$0" > "$1"', abort.core, `${dir}/in/${name}`);
      await Deno.writeTextFile(
        `${dir}/agent.yaml`,
        `stateDir: ${dir}/state
collector:
  paths: [${dir}/in]
storage:
  local: {path: ${dir}/store}
  compression: zstd
analyzer:
  useGdb: false
  valueThreshold: 1
`,
      );
      const run = await runAgent(["--config", `${dir}/agent.yaml`, "collect", "-o", "json"]);
      assertEquals(run.code, 0, run.stderr);
      assertEquals(json<CollectResult[]>(run).map((r) => r.outcome), ["stored"]);
      const stored = [...Deno.readDirSync(`${dir}/store`)].flatMap((instance) =>
        [...Deno.readDirSync(`${dir}/store/${instance.name}`)]
          .filter((e) => e.name.endsWith(".zst"))
          .map((e) => `${dir}/store/${instance.name}/${e.name}`)
      );
      assertEquals(stored.length, 1, JSON.stringify(stored));
      await sh('zstd -q -d -c "$0" > "$1"', stored[0]!, `${dir}/back`);
      assertEquals(await sha256(`${dir}/back`), await sha256(abort.core));
    });
  },
});
