/**
 * Bad input to `agent analyze core`: each case is exit code 2 with one line on stderr
 * naming the file and the problem, never a stack trace, never a hang.
 */
import { assertEquals, withTempDir } from "./support/assert.ts";
import { runAgent } from "./support/cli.ts";
import { haveGcc, sampleCores, skipNotice } from "./support/cores.ts";
import { elfHeader } from "./support/elf.ts";

const noGcc = skipNotice("gcc", haveGcc());

async function expectRejected(
  name: string,
  bytes: Uint8Array | undefined,
  reason: string,
): Promise<void> {
  await withTempDir(async (dir) => {
    const path = `${dir}/${name}`;
    if (bytes) await Deno.writeFile(path, bytes);
    for (const args of [["analyze", "core", path], ["analyze", "core", path, "-o", "json"]]) {
      const run = await runAgent(args, { timeoutMs: 20_000 });
      assertEquals(run.code, 2, `${name}: ${run.stderr}`);
      assertEquals(run.stdout, "");
      assertEquals(run.stderr, `Cannot read core "${path}": ${reason}\n`);
    }
  });
}

Deno.test("analyze core rejects a missing file", () =>
  expectRejected("nothing", undefined, "no such file"));

Deno.test("analyze core rejects an empty file", () =>
  expectRejected("empty", new Uint8Array(0), "file is empty"));

Deno.test("analyze core rejects random bytes", () => {
  const bytes = new Uint8Array(1 << 16);
  crypto.getRandomValues(bytes);
  bytes[0] = 0;
  return expectRejected("random", bytes, "not an ELF file");
});

Deno.test("analyze core rejects an xz core (gzip, zstd and lz4 are read)", () =>
  expectRejected(
    "core.xz",
    new Uint8Array([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x04, 0xe6, 0xd6, 0xb4, 0x46]),
    "xz-compressed cores are not supported (use gzip, zstd or lz4)",
  ));

Deno.test("analyze core rejects an lz4 core of the legacy format", () =>
  expectRejected(
    "core.lz4",
    new Uint8Array([0x02, 0x21, 0x4c, 0x18, 0x10, 0x00, 0x00, 0x00]),
    "legacy lz4 format (lz4 -l) is not supported (use the lz4 frame format)",
  ));

Deno.test("analyze core rejects a 32-bit ELF", () =>
  expectRejected("core32", elfHeader({ elfClass: 1 }), "32-bit ELF cores are not supported"));

Deno.test("analyze core rejects a big-endian ELF", () =>
  expectRejected("core-be", elfHeader({ data: 2 }), "big-endian ELF cores are not supported"));

Deno.test("analyze core rejects a directory", async () => {
  await withTempDir(async (dir) => {
    const run = await runAgent(["analyze", "core", dir]);
    assertEquals([run.code, run.stderr], [2, `Cannot read core "${dir}": is a directory\n`]);
  });
});

Deno.test({
  name: "analyze core rejects an ELF executable that is not a core",
  ignore: noGcc,
  fn: async () => {
    const { segv } = await sampleCores();
    await expectRejected(
      "program",
      await Deno.readFile(segv.exe),
      "not a core file (ELF shared object)",
    );
  },
});

Deno.test({
  name: "analyze core rejects a real core truncated in the header, the notes and the data",
  ignore: noGcc,
  fn: async () => {
    const { threads } = await sampleCores();
    const bytes = await Deno.readFile(threads.core);
    const noteOffset = Number(new DataView(bytes.buffer).getBigUint64(64 + 8, true));
    await expectRejected("cut-header", bytes.subarray(0, 50), "truncated inside the ELF header");
    await expectRejected(
      "cut-notes",
      bytes.subarray(0, noteOffset + 500),
      "truncated inside the notes",
    );
    const half = Math.floor(bytes.length / 2);
    await expectRejected(
      "cut-data",
      bytes.subarray(0, half),
      `truncated inside the data: ${half} of ${bytes.length} bytes present`,
    );
  },
});

Deno.test({
  name: "analyze core rejects a corrupt gzip core",
  ignore: noGcc,
  fn: async () => {
    const { segv } = await sampleCores();
    const { gzipSync } = await import("node:zlib");
    const gz = gzipSync(await Deno.readFile(segv.core)).slice(0, 300);
    gz.fill(0x55, 40);
    await withTempDir(async (dir) => {
      await Deno.writeFile(`${dir}/core.gz`, gz);
      const run = await runAgent(["analyze", "core", `${dir}/core.gz`]);
      assertEquals(run.code, 2);
      assertEquals(run.stderr.split("\n").filter(Boolean).length, 1);
      assertEquals(
        run.stderr.startsWith(`Cannot read core "${dir}/core.gz": gzip data is corrupt`),
        true,
        run.stderr,
      );
    });
  },
});
