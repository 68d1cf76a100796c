import { assertEquals } from "../../tests/support/assert.ts";
import { crashFrame, type Frame, frameLabel, frameName, isRuntimeLibrary } from "./frames.ts";

const LIBC = "/usr/lib/x86_64-linux-gnu/libc.so.6";

function frames(...list: Omit<Frame, "index">[]): Frame[] {
  return list.map((frame, index) => ({ index, ...frame }));
}

Deno.test("crashFrame() skips glibc's error paths down to the program's caller", () => {
  for (const inner of ["__stack_chk_fail", "__fortify_fail", "__chk_fail", "__memcpy_chk"]) {
    const stack = frames(
      { function: "__pthread_kill_implementation", library: LIBC },
      { function: "__GI_raise", library: LIBC },
      { function: "__GI_abort", library: LIBC },
      { function: "__libc_message", library: LIBC },
      // A static binary: glibc is part of the executable, so only the names tell.
      { function: inner, library: "/srv/app" },
      { function: "copy_name", file: "/src/smash.c", line: 5, library: "/srv/app" },
    );
    assertEquals(crashFrame(stack)?.function, "copy_name", inner);
  }
});

Deno.test("crashFrame() keeps an unsymbolized frame of the program, never a later named one", () => {
  const stack = frames(
    { address: "0x55ff1585b155", library: "/srv/app", offset: "0x1155" },
    { function: "start_thread", library: LIBC },
    { function: "clone3", library: LIBC },
  );
  assertEquals(crashFrame(stack), stack[0]);
  assertEquals(frameName(stack[0]!), "app+0x1155");
});

Deno.test("crashFrame() attributes a call through a null pointer to the caller", () => {
  const stack = frames(
    { address: "0x0000000000000000" },
    { address: "0x5573b3fe8146", library: "/srv/app", offset: "0x1146" },
  );
  assertEquals(crashFrame(stack), stack[1]);
});

Deno.test("crashFrame() skips C++ runtime and Go runtime frames", () => {
  const cpp = frames(
    { function: "__GI_abort", library: LIBC },
    { address: "0x7f10f5a9d919", library: "/usr/lib/libstdc++.so.6.0.30", offset: "0x9d919" },
    { function: "std::terminate()", library: "/usr/lib/libstdc++.so.6.0.30" },
    { function: "__cxa_throw", library: "/usr/lib/libstdc++.so.6.0.30" },
    { function: "load_segment", file: "a.cpp", line: 6, library: "/srv/app" },
  );
  assertEquals(crashFrame(cpp)?.function, "load_segment");
  const go = frames(
    { function: "runtime.fatal" },
    { function: "internal/runtime/maps.fatal" },
    { function: "runtime.mapassign_fast64" },
    { function: "main.writer" },
  );
  assertEquals(crashFrame(go)?.function, "main.writer");
});

Deno.test("crashFrame() falls back to a named frame, then to any, when none is the program's", () => {
  const idle = frames(
    { function: "runtime.futex" },
    { function: "__futex_abstimed_wait_common64", library: LIBC },
  );
  assertEquals(crashFrame(idle)?.function, "__futex_abstimed_wait_common64");
  assertEquals(crashFrame(frames({ function: "runtime.futex" }))?.function, "runtime.futex");
  assertEquals(crashFrame([]), undefined);
});

Deno.test("isRuntimeLibrary() knows glibc, the loader and the C++ runtime, not look-alikes", () => {
  for (const path of [LIBC, "/lib64/ld-linux-x86-64.so.2", "libstdc++.so.6", "libm-2.31.so"]) {
    assertEquals(isRuntimeLibrary(path), true, path);
  }
  for (const path of ["/usr/lib/libcurl.so.4", "libmilvus_core.so", "/usr/bin/ld-helper"]) {
    assertEquals(isRuntimeLibrary(path), false, path);
  }
});

Deno.test("frameLabel() says where a frame is in one phrase", () => {
  assertEquals(frameLabel({ index: 0, function: "f", file: "/a/b.c", line: 3 }), "f() at b.c:3");
  assertEquals(frameLabel({ index: 0, function: "g", library: LIBC }), "g() from libc.so.6");
  assertEquals(frameLabel({ index: 0, address: "0x1" }), "0x1");
});
