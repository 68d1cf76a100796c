import fc from "fast-check";
import { Buffer } from "node:buffer";
import { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { assert, assertEquals, assertRejects, withTempDir } from "../../tests/support/assert.ts";
import { haveCommand, haveGcc, sampleCores, skipNotice } from "../../tests/support/cores.ts";
import { createLz4Decompress } from "./lz4.ts";

const noLz4 = skipNotice("lz4", haveCommand("lz4"));
const noGcc = skipNotice("gcc", haveGcc());

/** Runs the `lz4` CLI on `input` and returns what it writes to stdout. */
async function lz4(args: string[], input: Uint8Array): Promise<Uint8Array> {
  return await withTempDir(async (dir) => {
    await Deno.writeFile(`${dir}/in`, input);
    const out = await new Deno.Command("lz4", {
      args: ["-q", "-c", ...args, `${dir}/in`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert(out.success, `lz4 ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
    return out.stdout;
  });
}

/** Feeds `bytes` to the decoder in `chunkSize` pieces and returns what it decodes. */
async function decode(bytes: Uint8Array, chunkSize = 64 * 1024): Promise<Uint8Array> {
  const decoder = createLz4Decompress();
  Readable.from(pieces(bytes, chunkSize)).pipe(decoder);
  const parts: Uint8Array[] = [];
  for await (const part of decoder) parts.push(part);
  return Buffer.concat(parts);
}

function* pieces(bytes: Uint8Array, size: number): Generator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}

function same(actual: Uint8Array, expected: Uint8Array, message: string): void {
  assert(Buffer.from(actual).equals(expected), `${message}: decoded bytes differ`);
  assertEquals(actual.length, expected.length, message);
}

function randomBytes(length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let at = 0; at < length; at += 65536) crypto.getRandomValues(bytes.subarray(at, at + 65536));
  return bytes;
}

/** Text with matches near and far: lines repeat with variations over a long distance. */
function text(lines: number): Uint8Array {
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    out.push(`thread ${i % 97} frame #${i % 13} at 0x${(i * 7919).toString(16)}`);
  }
  return new TextEncoder().encode(out.join("\n"));
}

/**
 * Runs of a repeated pattern of every period from 1 to 40 bytes, between random bytes: matches
 * that overlap what they write, long and short.
 */
function runs(): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let period = 1; period <= 40; period++) {
    const pattern = randomBytes(period);
    for (const length of [5, 31, 200, 5_000]) {
      parts.push(randomBytes(17), new Uint8Array(length).map((_, i) => pattern[i % period]!));
    }
  }
  return Buffer.concat(parts);
}

/** A frame header (magic, FLG, BD, HC) the CLI wrote, for frames with hand-made blocks. */
async function header(args: string[]): Promise<Uint8Array> {
  // Over one block: for a single block the CLI marks the blocks independent whatever -BD says.
  const head = (await lz4(args, new Uint8Array(5 * 1024 * 1024))).slice(0, 7);
  assertEquals(head[4]! & 0x20, args.includes("-BD") ? 0 : 0x20, "block independence flag");
  return head;
}

function u32(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  return bytes;
}

/** `header`, then each block with its size, then the end mark. */
function frame(head: Uint8Array, ...blocks: Uint8Array[]): Uint8Array {
  return Buffer.concat([head, ...blocks.flatMap((b) => [u32(b.length), b]), u32(0)]);
}

async function rejectsWith(bytes: Uint8Array, part: string): Promise<void> {
  await assertRejects(() => decode(bytes), Error, part);
}

const OPTIONS = [
  [],
  ["-1"],
  ["-9"],
  ["--content-size"],
  ["-B4"],
  ["-B5"],
  ["-B6"],
  ["-B7"],
  ["-BD"],
  ["-BD", "-B4"],
  ["--no-frame-crc"],
  ["-BX"],
  ["-BX", "-BD", "-B4", "--content-size", "--no-frame-crc"],
];

Deno.test({
  name: "createLz4Decompress() decodes what the lz4 CLI writes, with every frame option",
  ignore: noLz4 || noGcc,
  fn: async () => {
    const { segv, threads } = await sampleCores();
    const inputs: [string, Uint8Array][] = [
      ["segv core", await Deno.readFile(segv.core)],
      ["random", randomBytes(1_500_000)],
      ["zeros", new Uint8Array(5_000_000)],
      ["text", text(60_000)],
      ["runs", runs()],
      ["empty", new Uint8Array(0)],
    ];
    for (const [name, input] of inputs) {
      for (const args of OPTIONS) {
        const compressed = await lz4(args, input);
        // Odd chunk sizes put block and header boundaries everywhere.
        for (const chunk of [65_536, 4_099]) {
          same(await decode(compressed, chunk), input, `${name}, lz4 ${args.join(" ")}, ${chunk}`);
        }
      }
    }
    const core = await Deno.readFile(threads.core);
    same(await decode(await lz4([], core), 1 << 20), core, "threads core");
    same(await decode(await lz4(["-BD", "-B4"], core), 1 << 20), core, "threads core, linked");
  },
});

Deno.test({
  name: "createLz4Decompress() decodes a stream fed one byte at a time",
  ignore: noLz4,
  fn: async () => {
    const input = text(2_000);
    for (const args of [["-BX", "--content-size"], ["-BD", "-B4"]]) {
      same(await decode(await lz4(args, input), 1), input, `lz4 ${args.join(" ")}`);
    }
  },
});

Deno.test({
  name: "createLz4Decompress() decodes concatenated frames and skips skippable frames",
  ignore: noLz4,
  fn: async () => {
    const a = text(5_000);
    const b = randomBytes(300_000);
    await withTempDir(async (dir) => {
      await Deno.writeFile(`${dir}/a.lz4`, await lz4(["-BD"], a));
      await Deno.writeFile(`${dir}/b.lz4`, await lz4(["-B4", "-BX"], b));
      const cat = await new Deno.Command("sh", {
        args: ["-c", 'cat "$0/a.lz4" "$0/b.lz4"', dir],
        stdout: "piped",
      }).output();
      same(await decode(cat.stdout, 10_000), Buffer.concat([a, b]), "cat a.lz4 b.lz4");
      // User data between and after frames, under every skippable magic.
      const skippable = (magic: number, data: Uint8Array) =>
        Buffer.concat([u32(magic), u32(data.length), data]);
      const mixed = Buffer.concat([
        await Deno.readFile(`${dir}/a.lz4`),
        skippable(0x184d2a50, randomBytes(70_000)),
        skippable(0x184d2a5f, new Uint8Array(0)),
        await Deno.readFile(`${dir}/b.lz4`),
        skippable(0x184d2a5a, new TextEncoder().encode("trailer")),
      ]);
      same(await decode(mixed, 4_096), Buffer.concat([a, b]), "with skippable frames");
      // The CLI agrees.
      await Deno.writeFile(`${dir}/mixed.lz4`, mixed);
      const cli = await new Deno.Command("lz4", { args: ["-d", "-c", `${dir}/mixed.lz4`] })
        .output();
      same(cli.stdout, Buffer.concat([a, b]), "lz4 -d");
    });
  },
});

Deno.test({
  name: "createLz4Decompress() rejects corrupt and truncated input with a clear error",
  ignore: noLz4,
  fn: async () => {
    const input = text(20_000);
    const whole = await lz4(["-B4"], input);
    await rejectsWith(new Uint8Array(0), "Empty input: no lz4 frame");
    await rejectsWith(new TextEncoder().encode("ELF core"), "Not an lz4 frame at input byte 0");
    await rejectsWith(
      Buffer.concat([whole, new TextEncoder().encode("garbage!")]),
      `Not an lz4 frame at input byte ${whole.length}`,
    );
    await rejectsWith(
      Buffer.concat([u32(0x184c2102), whole]),
      "Legacy lz4 format (lz4 -l) at input byte 0 is not supported",
    );
    for (const cut of [3, 5, 6, 7, 9, 100, whole.length - 5, whole.length - 1]) {
      await rejectsWith(whole.subarray(0, cut), "Truncated lz4 stream: it ends inside");
    }

    const badHeader = whole.slice();
    badHeader[6]! ^= 0xff;
    await rejectsWith(badHeader, "header checksum mismatch in the frame at input byte 0");
    const badVersion = whole.slice();
    badVersion[4] = (badVersion[4]! & 0x3f) | 0x80;
    await rejectsWith(badVersion, "Unsupported lz4 frame version 2");
    const dictionary = whole.slice();
    dictionary[4]! |= 0x01;
    await rejectsWith(dictionary, "needs a dictionary");

    const badContent = whole.slice();
    badContent[badContent.length - 1]! ^= 0x01;
    await rejectsWith(badContent, "content checksum mismatch");
    const checked = await lz4(["-BX", "-B4", "--no-frame-crc"], input);
    const badBlock = checked.slice();
    badBlock[100]! ^= 0x01;
    await rejectsWith(badBlock, "Corrupt lz4 frame: checksum mismatch in block 0 at input byte 11");

    // A frame of the content size of another input.
    const longer = await lz4(["--content-size", "--no-frame-crc"], text(21_000));
    const shorter = await lz4(["--content-size", "--no-frame-crc"], input);
    await rejectsWith(
      Buffer.concat([longer.subarray(0, 15), shorter.subarray(15)]),
      `declares ${text(21_000).length} bytes of content but holds ${input.length}`,
    );

    // Hand-made blocks in a frame of 64 KiB independent blocks without checksums.
    const head = await header(["-B4", "--no-frame-crc"]);
    const bytes = (...values: number[]) => new Uint8Array(values);
    // One literal "a", a match of 4 at offset 1 (overlapping), five literals.
    same(
      await decode(frame(head, bytes(0x10, 0x61, 0x01, 0x00, 0x50, 1, 2, 3, 4, 5))),
      bytes(0x61, 0x61, 0x61, 0x61, 0x61, 1, 2, 3, 4, 5),
      "a valid hand-made block",
    );
    await rejectsWith(
      frame(head, bytes(0x10, 0x61, 0x02, 0x00, 0x00)),
      "block 0 at input byte 11: match offset 2 reaches before the start of the window",
    );
    await rejectsWith(frame(head, bytes(0x10, 0x61, 0x00, 0x00, 0x00)), "match offset 0");
    await rejectsWith(
      frame(head, bytes(0xf0, 0xff, 0xff, 0x10, 0x61)),
      "541 literals overrun the block's input",
    );
    await rejectsWith(
      frame(head, bytes(0x1f, 0x61, 0x01, 0x00, ...new Array(300).fill(255), 0, 0x10, 0x61)),
      "match of 76519 bytes overruns the block maximum size",
    );
    await rejectsWith(frame(head, bytes(0x1f, 0x61, 0x01)), "it ends inside a match offset");
    await rejectsWith(frame(head, bytes(0x1f, 0x61, 0x01, 0x00)), "it ends inside a match length");
    await rejectsWith(frame(head, bytes(0xf0)), "it ends inside a literal length");
    await rejectsWith(
      Buffer.concat([head, u32(65_537), new Uint8Array(65_537), u32(0)]),
      "claims 65537 bytes, more than the frame's block maximum of 65536",
    );
  },
});

Deno.test({
  name: "createLz4Decompress() lets linked blocks reach back across several blocks, only them",
  ignore: noLz4,
  fn: async () => {
    const blocks = [
      new Uint8Array([0x80, ...new TextEncoder().encode("abcdefgh")]),
      new Uint8Array([0x10, 0x58]),
      // No literals, a match of 8 at offset 9 (across both blocks before), no literals.
      new Uint8Array([0x04, 0x09, 0x00, 0x00]),
    ];
    const linked = frame(await header(["-BD", "-B4", "--no-frame-crc"]), ...blocks);
    assertEquals(new TextDecoder().decode(await decode(linked, 3)), "abcdefghXabcdefgh");
    const independent = frame(await header(["-B4", "--no-frame-crc"]), ...blocks);
    await rejectsWith(
      independent,
      "block 2 at input byte 30: match offset 9 reaches before the start of the window",
    );
  },
});

Deno.test({
  name: "createLz4Decompress() waits for a slow reader instead of piling up output",
  ignore: noLz4,
  fn: async () => {
    // 64 MiB of zeros is 256 KiB of lz4: one input chunk holds all sixteen 4 MiB blocks.
    const zeros = await lz4([], new Uint8Array(64 * 1024 * 1024));
    const decoder = createLz4Decompress();
    let most = 0;
    let total = 0;
    await pipeline(
      Readable.from(pieces(zeros, 1 << 20)),
      decoder,
      new Writable({
        highWaterMark: 1,
        write(chunk: Uint8Array, _encoding, done) {
          total += chunk.length;
          most = Math.max(most, decoder.readableLength);
          setTimeout(done, 0);
        },
      }),
    );
    assertEquals(total, 64 * 1024 * 1024);
    assert(most <= 8 * 1024 * 1024, `the decoder held ${most} bytes of output`);
  },
});

Deno.test({
  name: "createLz4Decompress() on a mutated frame ends with its output or an Error, never hangs",
  ignore: noLz4,
  fn: async () => {
    const input = text(3_000);
    const frames = [
      await lz4(["-B4", "--no-frame-crc"], input),
      await lz4(["-BD", "-B4", "--no-frame-crc", "--content-size"], input),
      await lz4(["-BX", "-B5"], input),
    ];
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: frames.length - 1 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.option(fc.nat(), { nil: undefined }),
        fc.integer({ min: 1, max: 5000 }),
        async (which, edits, cut, chunk) => {
          const bytes = frames[which]!.slice();
          for (const [at, value] of edits) bytes[at % bytes.length] = value;
          const mutated = cut === undefined ? bytes : bytes.subarray(0, cut % bytes.length);
          try {
            await decode(mutated, chunk);
          } catch (error) {
            assert(error instanceof Error, `threw ${String(error)}`);
            assert(!(error instanceof RangeError), `out of bounds: ${error.message}`);
          }
        },
      ),
      { numRuns: 400 },
    );
  },
});
