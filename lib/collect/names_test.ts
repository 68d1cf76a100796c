import { assertEquals } from "../../tests/support/assert.ts";
import { parseCoreName } from "./names.ts";

const TEMPLATES = ["core.%e.%p.%s.%t.%h", "core.%h.%e.%p", "core.%p", "core"];

Deno.test("parseCoreName() reads systemd-coredump names, compressed or not", () => {
  assertEquals(
    parseCoreName(
      "core.milvus.0.5e3fa7c2b1d94c0f8a6b2d1e3f4a5b6c.4242.1763800000123456.zst",
      TEMPLATES,
    ),
    {
      source: "systemd",
      comm: "milvus",
      uid: 0,
      bootId: "5e3fa7c2b1d94c0f8a6b2d1e3f4a5b6c",
      pid: 4242,
      time: new Date(1763800000123.456),
      compression: "zstd",
    },
  );
  assertEquals(
    parseCoreName("core.my.app.1000.5e3fa7c2b1d94c0f8a6b2d1e3f4a5b6c.7.1763800000000000", TEMPLATES)
      ?.comm,
    "my.app",
  );
});

Deno.test("parseCoreName() reads core_pattern templates in order", () => {
  assertEquals(parseCoreName("core.milvus.4242.11.1763800000.milvus-querynode-0", TEMPLATES), {
    source: "core.%e.%p.%s.%t.%h",
    comm: "milvus",
    pid: 4242,
    signal: 11,
    time: new Date(1763800000 * 1000),
    hostname: "milvus-querynode-0",
  });
  assertEquals(parseCoreName("core.milvus-datanode-1.milvus.77.gz", TEMPLATES), {
    source: "core.%h.%e.%p",
    hostname: "milvus-datanode-1",
    comm: "milvus",
    pid: 77,
    compression: "gzip",
  });
  assertEquals(parseCoreName("core.123", TEMPLATES), { source: "core.%p", pid: 123 });
  assertEquals(parseCoreName("core", TEMPLATES), { source: "core" });
  assertEquals(parseCoreName("notes.txt", TEMPLATES), undefined);
});

Deno.test("parseCoreName() handles %E, %% and unknown specifiers", () => {
  assertEquals(parseCoreName("dump-!usr!bin!milvus-9-100%", ["dump-%E-%p-%u%%"]), {
    source: "dump-%E-%p-%u%%",
    executable: "/usr/bin/milvus",
    pid: 9,
    uid: 100,
  });
  assertEquals(parseCoreName("c.x.5", ["c.%z.%p"])?.pid, 5);
});
