/**
 * Stack frames and which of them a crash is attributed to. The crash frame is the first frame
 * that belongs to the program: not the abort, raise and signal machinery, not glibc's internal
 * error paths (`malloc_printerr`, `__libc_message`, `__fortify_fail`...), not a frame of the C
 * or C++ runtime libraries, not the Go runtime, and not `pc == 0` (a call through a null
 * pointer, attributed to its caller). A frame without a symbol still belongs to the program
 * when its address lies in one of the program's modules: it is named `module+0xoffset`.
 *
 * @module
 */
import { basename } from "./_posix.ts";

/** One stack frame. */
export interface Frame {
  index: number;
  function?: string;
  /** Argument list as printed, without the parentheses. */
  args?: string;
  file?: string;
  line?: number;
  address?: string;
  /** The mapped file holding `address`. */
  library?: string;
  /** Offset of `address` from the library's load base (filled in from the core's mappings). */
  offset?: string;
}

/**
 * Frames of the abort, raise and signal machinery and of the runtimes' error paths (glibc,
 * libstdc++, the Go runtime). Named one by one, not by library, for statically linked
 * programs, whose glibc or Go runtime is part of the executable.
 */
const MACHINERY = new RegExp(
  "^(" +
    [
      "(__GI_)?raise",
      "(__GI_)?abort",
      "__pthread_kill\\w*",
      "pthread_kill",
      "(__GI_)?__assert_fail\\w*",
      "__assert_perror_fail",
      "__libc_message\\w*",
      "__malloc_assert",
      "malloc_printerr",
      "_int_(free|malloc|realloc|memalign)\\w*",
      "(__GI_)?(__libc_)?(free|malloc|realloc|calloc|cfree)",
      "unlink_chunk\\w*",
      "__fortify_fail\\w*",
      "__chk_fail",
      "__\\w+_chk",
      "__stack_chk_fail\\w*",
      "<signal handler called>",
      "__cxa_(re)?throw",
      "std::terminate\\(?\\)?",
      "std::__terminate\\(?.*\\)?",
      "__gnu_cxx::__verbose_terminate_handler\\(?\\)?",
      "__cxxabiv1::__terminate\\(.*\\)",
      "__cxxabiv1::__unexpected\\(.*\\)",
      "_Unwind_\\w+",
      // The Go runtime (and its internal packages) is part of every Go executable: whatever
      // fails inside it, the program's own frame below is where to look.
      "runtime\\..+",
      "(internal/runtime|runtime/internal)/[\\w/]+\\..+",
      "sync\\.(throw|fatal)",
    ].join("|") +
    ")$",
);

/**
 * Base names of the C and C++ runtime libraries (glibc, musl, the dynamic loader,
 * libstdc++, libgcc_s, libc++, sanitizers): their frames are never the program's.
 */
const RUNTIME_LIBRARY = new RegExp(
  "^(?:(?:ld-linux|ld-musl)[\\w.-]*\\.so[\\w.]*|ld(?:64)?\\.so[\\w.]*|(?:" +
    [
      "libc",
      "libm",
      "libpthread",
      "libdl",
      "librt",
      "libresolv",
      "libutil",
      "libanl",
      "libnsl",
      "libcrypt",
      "libstdc\\+\\+",
      "libgcc_s",
      "libc\\+\\+",
      "libc\\+\\+abi",
      "libunwind",
      "libasan",
      "libubsan",
      "libtsan",
      "liblsan",
      "linux-vdso",
      "linux-gate",
    ].join("|") +
    ")(?:[.-].*)?)$",
);

/** Whether a frame is part of the abort, raise or signal machinery or a runtime's error path. */
export function isMachinery(frame: Frame): boolean {
  return frame.function !== undefined && MACHINERY.test(frame.function);
}

/**
 * Whether `path` is one of the C or C++ runtime libraries.
 *
 * @example Usage
 * ```ts
 * isRuntimeLibrary("/usr/lib/x86_64-linux-gnu/libc.so.6"); // true
 * isRuntimeLibrary("/usr/lib/libcurl.so.4"); // false
 * ```
 */
export function isRuntimeLibrary(path: string): boolean {
  return RUNTIME_LIBRARY.test(basename(path));
}

/** Whether the frame is a call through a null pointer: pc 0, no symbol. */
export function isNullCall(frame: Frame): boolean {
  return frame.function === undefined && frame.address !== undefined &&
    /^0x0*$/.test(frame.address);
}

/**
 * Whether a frame belongs to the program: a symbol or a module of its own (not a runtime
 * library), outside the abort machinery, and not a call through a null pointer.
 */
export function isProgramFrame(frame: Frame): boolean {
  if (isNullCall(frame) || isMachinery(frame)) return false;
  if (frame.library !== undefined && isRuntimeLibrary(frame.library)) return false;
  return frame.function !== undefined || frame.library !== undefined;
}

/**
 * The frame a crash is attributed to: the first that belongs to the program; else the first
 * named frame outside the machinery; else the first that is not a call through a null pointer.
 *
 * @example Usage
 * ```ts
 * crashFrame([
 *   { index: 0, function: "raise", library: "/lib/libc.so.6" },
 *   { index: 1, function: "check", file: "a.c", line: 3 },
 * ])?.function; // "check"
 * ```
 */
export function crashFrame(frames: readonly Frame[]): Frame | undefined {
  return frames.find(isProgramFrame) ??
    frames.find((f) => f.function !== undefined && !isMachinery(f)) ??
    frames.find((f) => !isNullCall(f)) ??
    frames[0];
}

/**
 * A frame's name: its function, else `module+0xoffset` (what survives ASLR), else `??`.
 *
 * @example Usage
 * ```ts
 * frameName({ index: 0, address: "0x55aa1145", library: "/usr/bin/milvus", offset: "0x1145" });
 * // "milvus+0x1145"
 * ```
 */
export function frameName(frame: Frame): string {
  if (frame.function) return frame.function;
  if (frame.library && frame.offset) return `${basename(frame.library)}+${frame.offset}`;
  return "??";
}

/**
 * A frame for people, in one phrase: `f() at a.c:3`, `f() from libx.so`, `milvus+0x1145`.
 *
 * @example Usage
 * ```ts
 * frameLabel({ index: 0, function: "deref", file: "/src/segv.c", line: 5 }); // "deref() at segv.c:5"
 * ```
 */
export function frameLabel(frame: Frame): string {
  if (!frame.function) return frame.library || !frame.address ? frameName(frame) : frame.address;
  if (frame.file) return `${frame.function}() at ${basename(frame.file)}:${frame.line}`;
  if (frame.library) return `${frame.function}() from ${basename(frame.library)}`;
  return `${frame.function}()`;
}
