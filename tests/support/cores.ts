/**
 * Real cores for tests and benchmarks: compiles the C programs in `programs/` with
 * `gcc` and crashes them with `ulimit -c unlimited`. Where `core_pattern` pipes cores
 * to a helper (systemd-coredump, apport), the program runs under
 * `gdb -batch -ex run -ex generate-core-file` instead.
 *
 * @module
 */

/** A core made by crashing one of the sample programs. */
export interface Crash {
  /** Program name, e.g. `segv`. */
  name: string;
  /** The compiled executable. */
  exe: string;
  /** The core file. */
  core: string;
  /** The program's C source file name, as gdb reports it. */
  source: string;
  /** Who wrote the core: the kernel, or gdb's generate-core-file where core_pattern pipes. */
  writer: "kernel" | "gdb";
  /** For a stripped build, the debug info taken out of it (`objcopy --only-keep-debug`). */
  debugFile?: string;
}

/** How {@linkcode crash} builds and runs a program. */
export interface CrashOptions {
  /**
   * Strip the executable after building it (`strip --strip-all`, keeping its build-id),
   * saving the debug info beside it as `NAME.debug` first.
   */
  strip?: boolean;
  /** Directory under `parent` to build and crash in; default the program's name. */
  dir?: string;
  /** More environment variables of the crashing program. */
  env?: Record<string, string>;
}

const PROGRAMS = new URL("./programs/", import.meta.url);

/** Whether `gcc` can be run here. */
export function haveGcc(): boolean {
  return which("gcc");
}

/** Whether `gdb` can be run here. */
export function haveGdb(): boolean {
  return which("gdb");
}

/** Whether `command` can be found on PATH. */
export function haveCommand(command: string): boolean {
  return which(command);
}

function which(command: string): boolean {
  try {
    return new Deno.Command("sh", { args: ["-c", `command -v ${command}`], stdout: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
}

/** Whether the Go toolchain can be run here. */
export function haveGo(): boolean {
  return which("go");
}

/**
 * The Go toolchains to build the Go samples with: `go` on PATH and every Debian `golang-1.N`
 * beside it, one per version (their runtimes lay out what a core holds differently).
 */
export function goToolchains(): { go: string; version: string }[] {
  const found = new Map<string, string>();
  const candidates = ["go"];
  try {
    for (const entry of Deno.readDirSync("/usr/lib")) {
      if (/^go-1\.\d+$/.test(entry.name)) candidates.push(`/usr/lib/${entry.name}/bin/go`);
    }
  } catch {
    // No Debian toolchains.
  }
  for (const go of candidates) {
    try {
      const out = new Deno.Command(go, { args: ["env", "GOVERSION"], stderr: "null" })
        .outputSync();
      const version = new TextDecoder().decode(out.stdout).trim();
      if (out.success && version && !found.has(version)) found.set(version, go);
    } catch {
      // Not installed.
    }
  }
  return [...found].map(([version, go]) => ({ go, version }));
}

/** The language of `programs/<name>`, told by which source file exists. */
function language(name: string): "go" | "cpp" | "c" {
  for (const extension of ["go", "cpp"] as const) {
    try {
      if (Deno.statSync(new URL(`${name}.${extension}`, PROGRAMS)).isFile) return extension;
    } catch {
      // Not this one.
    }
  }
  return "c";
}

/**
 * Compiles `programs/<name>.c` (gcc), `programs/<name>.cpp` (g++) or `programs/<name>.go`
 * (go build, with its caches inside `dir`) into `dir` and returns the executable path.
 */
export async function compile(name: string, dir: string, goBinary = "go"): Promise<string> {
  const exe = `${dir}/${name}`;
  const lang = language(name);
  const go = lang === "go";
  const source = new URL(`${name}.${lang}`, PROGRAMS).pathname;
  const library = !go && (await compileLibrary(name, dir)) !== undefined;
  const out = await new Deno.Command(go ? goBinary : lang === "cpp" ? "g++" : "gcc", {
    args: go ? ["build", "-o", exe, source] : [
      "-g",
      "-O0",
      "-fno-omit-frame-pointer",
      "-pthread",
      "-o",
      exe,
      source,
      ...(library ? [`-L${dir}`, `-l${name}`, "-Wl,-rpath,$ORIGIN"] : []),
    ],
    env: go
      ? {
        HOME: dir,
        GOCACHE: `${dir}/.gocache`,
        GOPATH: `${dir}/.gopath`,
        GO111MODULE: "off",
        CGO_ENABLED: "1",
      }
      : {},
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`building ${source} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return exe;
}

/**
 * Builds `programs/lib<name>.c`, when there is one, into `dir/lib<name>.so` (with `defines`,
 * e.g. `["PLUGIN_V2"]` for another build of it). Returns the library, or `undefined`.
 */
export async function compileLibrary(
  name: string,
  dir: string,
  defines: string[] = [],
): Promise<string | undefined> {
  const source = new URL(`lib${name}.c`, PROGRAMS).pathname;
  try {
    await Deno.stat(source);
  } catch {
    return undefined;
  }
  const library = `${dir}/lib${name}.so`;
  const out = await new Deno.Command("gcc", {
    args: [
      "-g",
      "-O0",
      "-fno-omit-frame-pointer",
      "-shared",
      "-fPIC",
      ...defines.map((d) => `-D${d}`),
      "-o",
      library,
      source,
    ],
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`building ${source} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return library;
}

/**
 * Strips `exe` as release builds are (no symbol table, no debug info; the build-id note
 * stays), keeping what was taken out in `exe.debug`. Returns that file.
 */
export async function strip(exe: string): Promise<string> {
  const debug = `${exe}.debug`;
  for (
    const [tool, args] of [
      ["objcopy", ["--only-keep-debug", exe, debug]],
      ["strip", ["--strip-all", exe]],
    ] as const
  ) {
    const out = await new Deno.Command(tool, { args: [...args], stderr: "piped" }).output();
    if (!out.success) {
      throw new Error(`${tool} ${args.join(" ")} failed: ${new TextDecoder().decode(out.stderr)}`);
    }
  }
  return debug;
}

/** Reads `core_pattern` through `cat`: Deno asks for --allow-all to read /proc/sys directly. */
function corePattern(): string {
  try {
    const out = new Deno.Command("cat", { args: ["/proc/sys/kernel/core_pattern"], stderr: "null" })
      .outputSync();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : "|unknown";
  } catch {
    return "|unknown";
  }
}

/**
 * Compiles and crashes `programs/<name>.c` in a new directory under `parent`, returning
 * the core. The core file is named `core` (renamed from whatever `core_pattern` made).
 * Go samples are built with `goBinary` (default `go` on PATH).
 */
export async function crash(
  name: string,
  parent: string,
  args: string[] = [],
  goBinary?: string,
  options: CrashOptions = {},
): Promise<Crash> {
  const dir = `${parent}/${options.dir ?? name}`;
  await Deno.mkdir(dir, { recursive: true });
  const exe = await compile(name, dir, goBinary);
  const debugFile = options.strip ? await strip(exe) : undefined;
  const made = (writer: Crash["writer"]): Crash => ({
    name,
    exe,
    core,
    source: `${name}.${language(name)}`,
    writer,
    ...(debugFile ? { debugFile } : {}),
  });
  const core = `${dir}/core`;
  const pattern = corePattern();
  if (!pattern.startsWith("|") && !pattern.includes("/")) {
    await new Deno.Command("bash", {
      args: ["-c", 'ulimit -c unlimited && exec "$0" "$@"', exe, ...args],
      // Go programs leave a core only when the runtime aborts instead of exiting.
      env: { GOTRACEBACK: "crash", ...options.env },
      cwd: dir,
      stdout: "null",
      stderr: "null",
    }).output();
    const prefix = pattern.split("%")[0]!;
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && entry.name.startsWith(prefix) && entry.name !== name) {
        if (`${dir}/${entry.name}` !== core) await Deno.rename(`${dir}/${entry.name}`, core);
        return made("kernel");
      }
    }
  }
  await new Deno.Command("gdb", {
    env: { GOTRACEBACK: "crash", ...options.env },
    args: [
      "-nx",
      "-batch",
      "-ex",
      "run",
      "-ex",
      `generate-core-file ${core}`,
      "--args",
      exe,
      ...args,
    ],
    cwd: dir,
    stdout: "null",
    stderr: "null",
  }).output();
  await Deno.stat(core);
  return made("gdb");
}

/** The text `cat` prints for `file` (Deno asks for --allow-all to read /proc/PID itself). */
async function readProc(file: string): Promise<string | undefined> {
  const out = await new Deno.Command("cat", { args: ["--", file], stderr: "null" }).output();
  return out.success ? new TextDecoder().decode(out.stdout) : undefined;
}

/** The path `command` runs (a name is looked up in PATH). */
async function resolveCommand(command: string): Promise<string> {
  if (command.includes("/")) return command;
  const out = await new Deno.Command("sh", {
    args: ["-c", 'command -v "$0"', command],
    stdout: "piped",
  }).output();
  const path = new TextDecoder().decode(out.stdout).trim();
  if (!out.success || !path) throw new Error(`${command} is not on PATH`);
  return path;
}

/**
 * Whether the process `pid` is asleep in a system call (state S, a syscall number in
 * `/proc/PID/syscall`): past its start-up, in its own wait (pause, nanosleep). Killed before,
 * it would die in the dynamic loader.
 */
async function waiting(pid: number): Promise<boolean> {
  const stat = await readProc(`/proc/${pid}/stat`);
  const state = stat?.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  const syscall = await readProc(`/proc/${pid}/syscall`);
  return state === "S" && /^\d+ /.test(syscall ?? "");
}

/**
 * The core of a healthy process another process killed: runs `command args` (a program of
 * `programs/` when `command` names one, compiled first; else a command such as `sleep`) in
 * `parent/dir`, waits until it runs, and sends it `signal` from this process, as `kill -ABRT`
 * would. Where core_pattern pipes cores away, gdb runs it and writes the core on the signal.
 */
export async function killedCore(
  command: string,
  parent: string,
  args: string[] = [],
  options: { dir?: string; signal?: Deno.Signal } = {},
): Promise<Crash> {
  const name = command.split("/").at(-1)!;
  const dir = `${parent}/${options.dir ?? `killed-${name}`}`;
  await Deno.mkdir(dir, { recursive: true });
  let program: string;
  try {
    await Deno.stat(new URL(`${name}.${language(name)}`, PROGRAMS));
    program = await compile(name, dir);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    program = await resolveCommand(command);
  }
  const exe = await Deno.realPath(program);
  const core = `${dir}/core`;
  const viaKernel = !corePattern().startsWith("|") && !corePattern().includes("/");
  const child = new Deno.Command(viaKernel ? "bash" : "gdb", {
    args: viaKernel ? ["-c", 'ulimit -c unlimited && exec "$0" "$@"', program, ...args] : [
      "-nx",
      "-batch",
      "-ex",
      "run",
      "-ex",
      `generate-core-file ${core}`,
      "--args",
      program,
      ...args,
    ],
    cwd: dir,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  // The process to kill: bash itself once it has exec'd the program, or gdb's inferior.
  let pid: number | undefined;
  for (let tries = 0; pid === undefined; tries++) {
    if (tries > 6000) throw new Error(`${command} did not start`);
    if (viaKernel) {
      const exeLink = await new Deno.Command("readlink", { args: [`/proc/${child.pid}/exe`] })
        .output();
      if (
        new TextDecoder().decode(exeLink.stdout).trim() === exe && await waiting(child.pid)
      ) {
        pid = child.pid;
      }
    } else {
      const children = await readProc(`/proc/${child.pid}/task/${child.pid}/children`);
      const first = Number(children?.trim().split(/\s+/)[0]);
      if (
        first > 0 && (await readProc(`/proc/${first}/comm`))?.trim() === name.slice(0, 15) &&
        await waiting(first)
      ) {
        pid = first;
      }
    }
    if (pid === undefined) await new Promise((resolve) => setTimeout(resolve, 10));
  }
  Deno.kill(pid, options.signal ?? "SIGABRT");
  await child.status;
  if (viaKernel) {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && entry.name.startsWith("core") && entry.name !== "core") {
        await Deno.rename(`${dir}/${entry.name}`, core);
      }
    }
  }
  await Deno.stat(core);
  return {
    name,
    exe,
    core,
    source: `${name}.${language(name)}`,
    writer: viaKernel ? "kernel" : "gdb",
  };
}

/** The sample programs and what their crash looks like. */
export const SAMPLES = ["segv", "abort", "assert", "fpe", "threads", "recursive"] as const;

/** Name of one sample program. */
export type Sample = typeof SAMPLES[number];

let samples: Promise<Record<Sample, Crash>> | undefined;

/**
 * Crashes every sample program once per test process, in a temporary directory removed
 * when the process ends.
 */
export function sampleCores(): Promise<Record<Sample, Crash>> {
  samples ??= (async () => {
    const dir = await Deno.makeTempDir({ prefix: "agent-cores-" });
    globalThis.addEventListener("unload", () => {
      try {
        Deno.removeSync(dir, { recursive: true });
      } catch {
        // Already gone.
      }
    });
    const made = await Promise.all(SAMPLES.map((name) => crash(name, dir)));
    return Object.fromEntries(made.map((c) => [c.name, c])) as Record<Sample, Crash>;
  })();
  return samples;
}

/**
 * Prints once why tests that need a tool are skipped: `tools` is what is missing, e.g. "gcc"
 * or "zstd and setfattr".
 */
export function skipNotice(tools: string, available: boolean): boolean {
  if (!available) {
    const verb = / and /.test(tools.replace(/\(.*?\)/g, "")) ? "are" : "is";
    skipBecause(`${tools} ${verb} not installed`, "tests that need it are ignored");
  }
  return !available;
}

/** Prints why something is skipped, and what that means: `SKIP: reason; consequence`. */
export function skipBecause(reason: string, consequence: string): true {
  // deno-lint-ignore no-console
  console.warn(`SKIP: ${reason}; ${consequence}`);
  return true;
}

/** Whether aarch64 cores can be made here: a cross gcc and QEMU's user-mode emulator. */
export function haveAarch64(): boolean {
  return which("aarch64-linux-gnu-gcc") && which("qemu-aarch64");
}

/**
 * Compiles `programs/<name>.c` for aarch64 (static) and crashes it under `qemu-aarch64`,
 * which writes the guest's core as `qemu_<name>_<date>-<pid>.core`: a real aarch64 core,
 * with NT_PRSTATUS, NT_PRPSINFO and NT_AUXV but no NT_SIGINFO or NT_FILE.
 */
export async function crashAarch64(name: string, parent: string): Promise<Crash> {
  const dir = `${parent}/${name}-aarch64`;
  await Deno.mkdir(dir, { recursive: true });
  const exe = `${dir}/${name}`;
  const source = new URL(`${name}.c`, PROGRAMS).pathname;
  const built = await new Deno.Command("aarch64-linux-gnu-gcc", {
    args: ["-g", "-O0", "-static", "-o", exe, source],
    stderr: "piped",
  }).output();
  if (!built.success) throw new Error(`aarch64-linux-gnu-gcc ${name}.c failed`);
  await new Deno.Command("bash", {
    args: ["-c", 'ulimit -c unlimited && exec qemu-aarch64 "$0"', exe],
    cwd: dir,
    stdout: "null",
    stderr: "null",
  }).output();
  let core: string | undefined;
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name.startsWith("qemu_") && entry.name.endsWith(".core")) {
      core = `${dir}/${entry.name}`;
    } // QEMU re-raises the signal on itself: its own (x86_64) core is not wanted.
    else if (entry.name.startsWith("core")) await Deno.remove(`${dir}/${entry.name}`);
  }
  if (!core) throw new Error(`qemu-aarch64 ${name} left no core in ${dir}`);
  return { name, exe, core, source: `${name}.c`, writer: "kernel" };
}
