import fc from "fast-check";
import { InputError } from "../errors.ts";
import { assert, assertEquals, assertRejects } from "../../tests/support/assert.ts";
import { haveGcc, sampleCores, skipNotice } from "../../tests/support/cores.ts";
import { elfHeader, minimalCore, prstatus } from "../../tests/support/elf.ts";
import { readCoreNotes } from "./elf_core.ts";

const noGcc = skipNotice("gcc", haveGcc());

async function withFile<T>(bytes: Uint8Array, fn: (path: string) => Promise<T>): Promise<T> {
  const path = await Deno.makeTempFile({ prefix: "agent-core-test-" });
  try {
    await Deno.writeFile(path, bytes);
    return await fn(path);
  } finally {
    await Deno.remove(path);
  }
}

async function rejects(bytes: Uint8Array, reason: string): Promise<void> {
  await withFile(
    bytes,
    (path) => assertRejects(() => readCoreNotes(path), InputError, `"${path}": ${reason}`),
  );
}

Deno.test("readCoreNotes() rejects an empty file", () =>
  rejects(new Uint8Array(0), "file is empty"));

Deno.test("readCoreNotes() rejects a file that is not ELF", () =>
  rejects(new TextEncoder().encode("hello world\n"), "not an ELF file"));

Deno.test("readCoreNotes() rejects a 32-bit ELF", () =>
  rejects(elfHeader({ elfClass: 1 }), "32-bit ELF cores are not supported"));

Deno.test("readCoreNotes() rejects a big-endian ELF", () =>
  rejects(elfHeader({ data: 2 }), "big-endian ELF cores are not supported"));

Deno.test("readCoreNotes() rejects an ELF executable", () =>
  rejects(elfHeader({ type: 2 }), "not a core file (ELF executable)"));

Deno.test("readCoreNotes() rejects a shared object", () =>
  rejects(elfHeader({ type: 3 }), "not a core file (ELF shared object)"));

Deno.test("readCoreNotes() rejects an unsupported machine", () =>
  rejects(elfHeader({ machine: 3 }), "unsupported machine i386"));

Deno.test("readCoreNotes() rejects an ELF header cut short", () =>
  rejects(elfHeader().subarray(0, 40), "truncated inside the ELF header"));

Deno.test("readCoreNotes() rejects missing program headers", () =>
  rejects(elfHeader({ phnum: 3 }), "truncated inside the program headers"));

Deno.test("readCoreNotes() rejects a core without threads", () =>
  rejects(minimalCore([]), "core has no NT_PRSTATUS note (no threads)"));

Deno.test("readCoreNotes() rejects a note that runs past its segment", async () => {
  const core = minimalCore([{ type: 1, desc: prstatus(7, 11, 0x1000n, 0x2000n) }]);
  new DataView(core.buffer).setUint32(120 + 4, 1 << 30, true);
  await rejects(core, "corrupt note at offset 120 (size 1073741824 runs past its segment)");
});

Deno.test("readCoreNotes() rejects a short NT_PRSTATUS", () =>
  rejects(
    minimalCore([{ type: 1, desc: new Uint8Array(40) }]),
    "corrupt NT_PRSTATUS note at offset 120 (40 bytes, expected 272)",
  ));

Deno.test("readCoreNotes() reads a minimal synthetic core", async () => {
  const core = minimalCore([
    { type: 1, desc: prstatus(41, 6, 0x401000n, 0x7ffe0000n) },
    { type: 1, desc: prstatus(42, 6, 0x402000n, 0x7ffd0000n) },
    { name: "LINUX", type: 0x202, desc: new Uint8Array(16) },
  ]);
  await withFile(core, async (path) => {
    const notes = await readCoreNotes(path);
    assertEquals(notes.machine, "x86_64");
    assertEquals(notes.threads, [
      { tid: 41, signal: 6, pc: 0x401000n, sp: 0x7ffe0000n },
      { tid: 42, signal: 6, pc: 0x402000n, sp: 0x7ffd0000n },
    ]);
    assertEquals(notes.signal, { number: 6, code: null, errno: 0 });
    assertEquals(notes.coreSize, core.length);
  });
});

Deno.test("readCoreNotes() reads aarch64 registers", async () => {
  const desc = new Uint8Array(392);
  const view = new DataView(desc.buffer);
  view.setInt32(32, 9, true);
  view.setBigUint64(112 + 31 * 8, 0xfff0n, true);
  view.setBigUint64(112 + 32 * 8, 0x4000n, true);
  await withFile(minimalCore([{ type: 1, desc }], 183), async (path) => {
    const notes = await readCoreNotes(path);
    assertEquals(notes.machine, "aarch64");
    assertEquals(notes.threads, [{ tid: 9, signal: 0, pc: 0x4000n, sp: 0xfff0n }]);
  });
});

Deno.test("readCoreNotes() refuses notes above the memory bound", async () => {
  const core = minimalCore([{ type: 1, desc: prstatus(1, 11, 1n, 2n) }]);
  await withFile(
    core,
    (path) =>
      assertRejects(
        () => readCoreNotes(path, { maxNoteBytes: 100 }),
        InputError,
        "more than the 100-byte limit",
      ),
  );
});

Deno.test({
  name: "readCoreNotes() reads a real core's signal, process, threads, files",
  ignore: noGcc,
  fn: async () => {
    const { threads } = await sampleCores();
    const notes = await readCoreNotes(threads.core);
    assertEquals(notes.signal?.number, 11);
    assertEquals(notes.signal?.address, 0n);
    assertEquals(notes.process?.name, "threads");
    assertEquals(notes.process?.commandLine, threads.exe);
    assertEquals(notes.threads.length, 4);
    assertEquals(notes.executable, threads.exe);
    assert(notes.files.some((f) => f.path.includes("libc.so")), "libc is mapped");
    assertEquals(notes.coreSize, (await Deno.stat(threads.core)).size);
  },
});

Deno.test({
  name: "readCoreNotes() names where a real core was truncated",
  ignore: noGcc,
  fn: async () => {
    const { segv } = await sampleCores();
    const bytes = await Deno.readFile(segv.core);
    const phnum = new DataView(bytes.buffer).getUint16(56, true);
    const noteOffset = Number(new DataView(bytes.buffer).getBigUint64(64 + 8, true));
    const cases: [number, string][] = [
      [3, "not an ELF file"],
      [20, "truncated inside the ELF header"],
      [64 + 56 * phnum - 10, "truncated inside the program headers"],
      [noteOffset + 100, "truncated inside the notes"],
      [
        bytes.length - 4096,
        `truncated inside the data: ${bytes.length - 4096} of ${bytes.length} bytes present`,
      ],
    ];
    for (const [size, reason] of cases) await rejects(bytes.subarray(0, size), reason);
  },
});

Deno.test({
  name: "readCoreNotes() returns a result or an InputError for any mutation of a real core's notes",
  ignore: noGcc,
  fn: async () => {
    const { segv } = await sampleCores();
    const original = await Deno.readFile(segv.core);
    const header = new DataView(original.buffer);
    const phnum = header.getUint16(56, true);
    const notes = [...Array(phnum).keys()].map((i) => 64 + i * 56).find((at) =>
      header.getUint32(at, true) === 4
    )!;
    const start = Number(header.getBigUint64(notes + 8, true));
    const size = Number(header.getBigUint64(notes + 32, true));
    const path = await Deno.makeTempFile({ prefix: "agent-fuzz-" });
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.tuple(fc.nat(size - 1), fc.integer({ min: 0, max: 255 })), {
            minLength: 1,
            maxLength: 64,
          }),
          async (edits) => {
            const mutated = original.slice();
            for (const [at, value] of edits) mutated[start + at] = value;
            await Deno.writeFile(path, mutated);
            try {
              const result = await readCoreNotes(path);
              return result.threads.length > 0;
            } catch (error) {
              if (!(error instanceof InputError)) throw error;
              return !error.message.includes("\n");
            }
          },
        ),
        { numRuns: 300 },
      );
    } finally {
      await Deno.remove(path);
    }
  },
});

Deno.test({
  name: "readCoreNotes() decompresses gzip only as far as the notes, and rejects corrupt data",
  ignore: noGcc,
  fn: async () => {
    const { segv } = await sampleCores();
    const { gzipSync } = await import("node:zlib");
    const compressed = gzipSync(await Deno.readFile(segv.core));
    await withFile(compressed, async (path) => {
      const notes = await readCoreNotes(path);
      assertEquals(notes.compression, "gzip");
      assertEquals(notes.signal?.number, 11);
    });
    const corrupt = compressed.slice(0, 200);
    corrupt.fill(0xaa, 20);
    await rejects(corrupt, "gzip data is corrupt");
  },
});
