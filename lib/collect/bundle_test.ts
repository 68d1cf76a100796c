import { assertEquals } from "../../tests/support/assert.ts";
import { parseManifest, parseMaps } from "./bundle.ts";

const MAPS = `55d0c0a00000-55d0c0a01000 r--p 00000000 00:27 3                          /app/service
55d0c0a01000-55d0c0a02000 r-xp 00001000 00:27 3                          /app/service
55d0c2b3a000-55d0c2b5b000 rw-p 00000000 00:00 0                          [heap]
7f1a2c000000-7f1a2c400000 r--p 00000000 08:01 77                         /usr/lib/locale/locale-archive
7f1a2c600000-7f1a2c626000 r--p 00000000 08:01 12                         /lib/x86_64-linux-gnu/libc.so.6
7f1a2c626000-7f1a2c77c000 r-xp 00026000 08:01 12                         /lib/x86_64-linux-gnu/libc.so.6
7f1a2c800000-7f1a2c801000 r--p 00000000 00:27 9                          /app/lib plugin.so (deleted)
7f1a2c801000-7f1a2c802000 r-xp 00001000 00:27 9                          /app/lib plugin.so (deleted)
7ffc1b000000-7ffc1b021000 rw-p 00000000 00:00 0                          [stack]
`;

Deno.test("parseMaps() lists the mapped binaries, the executable first, not data files", () => {
  assertEquals(parseMaps(MAPS, "/app/service"), [
    { path: "/app/service", range: "55d0c0a00000-55d0c0a01000" },
    { path: "/lib/x86_64-linux-gnu/libc.so.6", range: "7f1a2c600000-7f1a2c626000" },
    // A file replaced since it was mapped is still there, through map_files.
    { path: "/app/lib plugin.so", range: "7f1a2c800000-7f1a2c801000" },
  ]);
  assertEquals(parseMaps("garbage\n\n"), []);
});

Deno.test("parseManifest() refuses what a bundle manifest cannot hold", () => {
  const entry = { path: "/app/service", buildId: "ab".repeat(20), bytes: 10, key: null };
  assertEquals(parseManifest({ files: [entry], skipped: [] })?.files.length, 1);
  assertEquals(
    parseManifest({ files: [{ ...entry, file: "../../etc/passwd" }], skipped: [] }),
    undefined,
  );
  assertEquals(
    parseManifest({ files: [{ ...entry, buildId: "not hex" }], skipped: [] }),
    undefined,
  );
  assertEquals(parseManifest("nope"), undefined);
});
