/**
 * Reads the facts a Linux ELF core carries in its notes (signal, process, threads,
 * auxiliary vector, mapped files) with positioned reads of only the ELF header, the
 * program headers and the PT_NOTE segments: never the memory segments, so the cost
 * does not grow with the size of the core.
 *
 * @module
 */
import { InputError } from "../errors.ts";
import { type ByteSource, type Compression, openSource } from "./_source.ts";
import { buildIdInPage, readElfIdentity } from "./build_id.ts";

/** CPU architectures whose cores are understood. */
export type Machine = "x86_64" | "aarch64";

/** The signal that killed the process. */
export interface CoreSignal {
  number: number;
  /** `si_code`; `null` when the core has no NT_SIGINFO (the signal number then comes from NT_PRSTATUS). */
  code: number | null;
  errno: number;
  /** Faulting address (from NT_SIGINFO) when the signal carries one. */
  address?: bigint;
  /** Sending process when the signal came from kill/tkill/sigqueue. */
  senderPid?: number;
  senderUid?: number;
}

/** One thread of the dumped process (one NT_PRSTATUS note). */
export interface CoreThread {
  /** Kernel thread id (LWP). */
  tid: number;
  /** Signal pending for this thread when dumped. */
  signal: number;
  pc: bigint;
  sp: bigint;
  /**
   * For a thread stopped at pc 0 (a call through a null pointer): the return address that
   * call left (x86_64: the word at sp; aarch64: the link register), when the core holds it.
   */
  callerPc?: bigint;
}

/** The dumped process (NT_PRPSINFO). */
export interface CoreProcess {
  pid: number;
  ppid: number;
  uid: number;
  gid: number;
  /** Command name (`comm`), at most 15 characters. */
  name: string;
  /** Arguments as the kernel records them: space-separated, at most 80 characters. */
  commandLine: string;
}

/** A file mapped into the process (NT_FILE). */
export interface MappedFile {
  start: bigint;
  end: bigint;
  /** Offset in the file, in bytes. */
  fileOffset: bigint;
  path: string;
}

/** An ELF file mapped into the process, as the core shows it. */
export interface CoreModule {
  /** Its path, as the crashed process saw it (inside its container, for a container). */
  path: string;
  /** Where the file's offset 0 is mapped: addresses minus this are offsets in the file. */
  base: bigint;
  /**
   * The GNU build-id in the mapping's first page, which the kernel writes into the core;
   * absent when the core does not hold that page or the file has none.
   */
  buildId?: string;
}

/** A PT_LOAD segment: process memory present (or not) in the core. */
export interface LoadSegment {
  vaddr: bigint;
  memSize: bigint;
  fileOffset: number;
  fileSize: number;
  flags: number;
}

/** Everything the notes of a core say. */
export interface CoreNotes {
  machine: Machine;
  compression: Compression;
  /** Size of the file on disk. */
  fileSize: number;
  /** When the file was last modified, from the same `fstat` that gave its size. */
  modifiedAt: Date | null;
  /** Size of the uncompressed core according to its program headers. */
  coreSize: number;
  signal?: CoreSignal;
  process?: CoreProcess;
  /** In note order: the first thread is the one that received the signal. */
  threads: CoreThread[];
  /** Auxiliary vector (`AT_*` key to value). */
  auxv: Map<number, bigint>;
  files: MappedFile[];
  segments: LoadSegment[];
  /**
   * Whether the file holds every byte the program headers promise. Always true for a plain
   * core (a short one is rejected); unknown (`undefined`) for a compressed one, which is only
   * decompressed as far as its notes.
   */
  complete?: boolean;
  /** Executable path from NT_FILE (the mapping holding AT_PHDR) or AT_EXECFN. */
  executable?: string;
  /**
   * Every ELF file mapped at its offset 0 (the executable and the shared libraries), in
   * address order, with the build-ids read when the options asked for them.
   */
  modules: CoreModule[];
}

/** Options of {@linkcode readCoreNotes}. */
export interface ReadCoreOptions {
  /** Upper bound on the bytes of all PT_NOTE segments read into memory. Default 64 MiB. */
  maxNoteBytes?: number;
  /**
   * Read each module's build-id from its first page (a few small reads each). Default true;
   * a compressed core is never read out of order for them: see {@linkcode readBuildIds}.
   */
  buildIds?: boolean;
}

const ET_CORE = 4;
const EM_X86_64 = 62;
const EM_AARCH64 = 183;
const PT_LOAD = 1;
const PT_NOTE = 4;
const PN_XNUM = 0xffff;
const PHDR_SIZE = 56;
/** Far above any real process (vm.max_map_count defaults to 65530): 56 MiB of headers. */
const MAX_PHNUM = 1 << 20;

const NT_PRSTATUS = 1;
const NT_PRPSINFO = 3;
const NT_AUXV = 6;
const NT_SIGINFO = 0x53494749;
const NT_FILE = 0x46494c45;

const AT_PHDR = 3;
const AT_ENTRY = 9;
const AT_EXECFN = 31;

/** Register block layout inside NT_PRSTATUS, per machine. */
const PRSTATUS = {
  x86_64: { pc: 112 + 16 * 8, sp: 112 + 19 * 8, lr: undefined },
  aarch64: { pc: 112 + 32 * 8, sp: 112 + 31 * 8, lr: 112 + 30 * 8 },
} as const;

const ET_NAMES: Record<number, string> = { 1: "relocatable", 2: "executable", 3: "shared object" };
const EM_NAMES: Record<number, string> = {
  3: "i386",
  8: "MIPS",
  20: "PowerPC",
  21: "PowerPC64",
  22: "s390",
  40: "ARM",
  243: "RISC-V",
  258: "LoongArch",
};

/**
 * Reads the notes of the core at `path` (plain, gzip or zstd).
 *
 * @throws {InputError} when the file is unreadable, not a 64-bit little-endian ELF core
 * of a supported machine, truncated, or its notes are corrupt.
 *
 * @example Usage
 * ```ts ignore
 * const notes = await readCoreNotes("./core.1234");
 * console.log(notes.signal?.number, notes.threads.length);
 * ```
 */
export async function readCoreNotes(
  path: string,
  options: ReadCoreOptions = {},
): Promise<CoreNotes> {
  const source = await openSource(path);
  try {
    const notes = await new CoreReader(path, source, options.maxNoteBytes ?? 64 * 1024 * 1024)
      .read();
    if (options.buildIds !== false && source.seekable) await fillBuildIds(source, notes);
    return notes;
  } finally {
    source.close();
  }
}

/**
 * Reads the modules' build-ids into `notes` from the plain (uncompressed) core at `path`: for
 * a compressed core, from the copy unpacked for gdb, since reading them from the compressed
 * file would mean decompressing it nearly whole.
 *
 * @throws {InputError} when the core cannot be read.
 */
export async function readBuildIds(path: string, notes: CoreNotes): Promise<void> {
  const source = await openSource(path);
  try {
    if (source.seekable) await fillBuildIds(source, notes);
  } finally {
    source.close();
  }
}

/** What the kernel writes of a mapping of an ELF file: its first page. */
const FIRST_PAGE = 4096;

/**
 * Each module's first page is a segment of the core: its build-id note is read from there, in
 * one read of the page (the note follows the program headers in it).
 */
async function fillBuildIds(source: ByteSource, notes: CoreNotes): Promise<void> {
  // One buffer for every page: each is parsed before the next is read.
  const buffer = new Uint8Array(FIRST_PAGE);
  for (const module of notes.modules) {
    const where = FIRST_PAGES.get(module);
    if (!where) continue;
    const { start, end } = where;
    const size = Math.min(FIRST_PAGE, end - start);
    const page = source.readSync
      ? buffer.subarray(0, source.readSync(start, buffer.subarray(0, size)))
      : await source.read(start, size);
    const buildId = buildIdInPage(page) ??
      // A core written by gdb may hold more of the file than its first page.
      (end - start > page.length
        ? (await readElfIdentity(
          (offset, length) =>
            offset < 0 || start + offset >= end
              ? Promise.resolve(new Uint8Array(0))
              : source.read(start + offset, Math.min(length, end - start - offset)),
          { soname: false },
        )).buildId
        : undefined);
    if (buildId) module.buildId = buildId;
  }
}

interface ProgramHeader {
  type: number;
  flags: number;
  offset: number;
  vaddr: bigint;
  fileSize: number;
  memSize: bigint;
}

class CoreReader {
  constructor(
    private readonly path: string,
    private readonly source: ByteSource,
    private readonly maxNoteBytes: number,
  ) {}

  #fail(reason: string): never {
    throw new InputError(`Cannot read core "${this.path}": ${reason}`);
  }

  async read(): Promise<CoreNotes> {
    const source = this.source;
    if (source.fileSize === 0) this.#fail("file is empty");
    const header = await source.read(0, 64);
    if (
      header.length < 4 || header[0] !== 0x7f || header[1] !== 0x45 || header[2] !== 0x4c ||
      header[3] !== 0x46
    ) {
      this.#fail("not an ELF file");
    }
    if (header.length < 6) this.#fail("truncated inside the ELF header");
    if (header[4] === 1) this.#fail("32-bit ELF cores are not supported");
    if (header[4] !== 2) this.#fail(`unknown ELF class ${header[4]}`);
    if (header[5] === 2) this.#fail("big-endian ELF cores are not supported");
    if (header[5] !== 1) this.#fail(`unknown ELF data encoding ${header[5]}`);
    if (header.length < 64) this.#fail("truncated inside the ELF header");
    const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
    const type = view.getUint16(16, true);
    if (type !== ET_CORE) {
      this.#fail(`not a core file (ELF ${ET_NAMES[type] ?? `type ${type}`})`);
    }
    const machineCode = view.getUint16(18, true);
    const machine: Machine | undefined = machineCode === EM_X86_64
      ? "x86_64"
      : machineCode === EM_AARCH64
      ? "aarch64"
      : undefined;
    if (!machine) {
      this.#fail(`unsupported machine ${EM_NAMES[machineCode] ?? `e_machine ${machineCode}`}`);
    }
    const phoff = this.#safe(view.getBigUint64(32, true), "e_phoff");
    const shoff = this.#safe(view.getBigUint64(40, true), "e_shoff");
    const phentsize = view.getUint16(54, true);
    let phnum = view.getUint16(56, true);
    const shentsize = view.getUint16(58, true);
    const shnum = view.getUint16(60, true);
    if (phentsize !== PHDR_SIZE) this.#fail(`corrupt ELF header (e_phentsize ${phentsize})`);
    // Cores written by gdb carry section headers after the segments.
    let extentEnd = Math.max(64, shoff + shnum * shentsize);
    if (phnum === PN_XNUM) {
      // More than 65534 segments: the real count is in section header 0's sh_info.
      const section = await this.#readExact(shoff, 64, "the section header");
      phnum = new DataView(section.buffer, section.byteOffset).getUint32(44, true);
      extentEnd = Math.max(extentEnd, shoff + 64);
    }
    if (phnum === 0) this.#fail("core has no program headers");
    if (phnum > MAX_PHNUM) this.#fail(`corrupt ELF header (${phnum} program headers)`);
    const headers = await this.#readProgramHeaders(phoff, phnum);
    extentEnd = Math.max(extentEnd, phoff + phnum * PHDR_SIZE);
    for (const h of headers) extentEnd = Math.max(extentEnd, h.offset + h.fileSize);

    const notes = headers.filter((h) => h.type === PT_NOTE).sort((a, b) => a.offset - b.offset);
    if (notes.length === 0) this.#fail("core has no PT_NOTE segment");
    const noteBytes = notes.reduce((sum, h) => sum + h.fileSize, 0);
    if (noteBytes > this.maxNoteBytes) {
      this.#fail(`notes are ${noteBytes} bytes, more than the ${this.maxNoteBytes}-byte limit`);
    }
    const result: CoreNotes = {
      machine,
      compression: source.compression,
      fileSize: source.fileSize,
      modifiedAt: source.modifiedAt,
      coreSize: extentEnd,
      threads: [],
      auxv: new Map(),
      files: [],
      modules: [],
      segments: headers.filter((h) => h.type === PT_LOAD).map((h) => ({
        vaddr: h.vaddr,
        memSize: h.memSize,
        fileOffset: h.offset,
        fileSize: h.fileSize,
        flags: h.flags,
      })),
    };
    for (const segment of notes) {
      const bytes = await this.#readExact(segment.offset, segment.fileSize, "the notes");
      this.#parseNotes(bytes, segment.offset, result);
    }
    if (result.threads.length === 0) this.#fail("core has no NT_PRSTATUS note (no threads)");
    if (!result.signal) {
      const first = result.threads[0]!;
      if (first.signal > 0) result.signal = { number: first.signal, code: null, errno: 0 };
    }
    if (source.compression === "none" && source.fileSize < extentEnd) {
      this.#fail(
        `truncated inside the data: ${source.fileSize} of ${extentEnd} bytes present`,
      );
    }
    if (source.compression === "none") result.complete = true;
    result.executable = await this.#executable(result);
    result.modules = modulesOf(result.files, result.segments);
    const first = result.threads[0]!;
    if (first.pc === 0n && result.machine === "x86_64" && source.seekable) {
      // The call pushed its return address and jumped to 0: sp still points at it.
      const word = await readMemory(source, result.segments, first.sp, 8);
      if (word?.length === 8) {
        first.callerPc = new DataView(word.buffer, word.byteOffset, 8).getBigUint64(0, true);
      }
    }
    return result;
  }

  #safe(value: bigint, field: string): number {
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
      this.#fail(`corrupt ELF header (${field} ${value})`);
    }
    return Number(value);
  }

  async #readExact(offset: number, length: number, what: string): Promise<Uint8Array> {
    const bytes = await this.source.read(offset, length);
    if (bytes.length < length) this.#fail(`truncated inside ${what}`);
    return bytes;
  }

  async #readProgramHeaders(phoff: number, phnum: number): Promise<ProgramHeader[]> {
    const bytes = await this.#readExact(phoff, phnum * PHDR_SIZE, "the program headers");
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const headers: ProgramHeader[] = [];
    for (let i = 0; i < phnum; i++) {
      const at = i * PHDR_SIZE;
      const offset = view.getBigUint64(at + 8, true);
      const fileSize = view.getBigUint64(at + 32, true);
      if (offset + fileSize > BigInt(Number.MAX_SAFE_INTEGER)) {
        this.#fail(`corrupt program header ${i} (offset ${offset}, size ${fileSize})`);
      }
      headers.push({
        type: view.getUint32(at, true),
        flags: view.getUint32(at + 4, true),
        offset: Number(offset),
        vaddr: view.getBigUint64(at + 16, true),
        fileSize: Number(fileSize),
        memSize: view.getBigUint64(at + 40, true),
      });
    }
    return headers;
  }

  #parseNotes(bytes: Uint8Array, base: number, result: CoreNotes): void {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let at = 0;
    while (at + 12 <= bytes.length) {
      const nameSize = view.getUint32(at, true);
      const descSize = view.getUint32(at + 4, true);
      const type = view.getUint32(at + 8, true);
      const nameAt = at + 12;
      const descAt = nameAt + align4(nameSize);
      const end = descAt + align4(descSize);
      if (descAt + descSize > bytes.length) {
        this.#fail(`corrupt note at offset ${base + at} (size ${descSize} runs past its segment)`);
      }
      const name = latin1(bytes.subarray(nameAt, nameAt + nameSize));
      if (name === "CORE") {
        this.#interpret(type, bytes.subarray(descAt, descAt + descSize), base + at, result);
      }
      at = end;
    }
  }

  #interpret(type: number, desc: Uint8Array, offset: number, result: CoreNotes): void {
    const view = new DataView(desc.buffer, desc.byteOffset, desc.byteLength);
    const need = (size: number, note: string) => {
      if (desc.length < size) {
        this.#fail(
          `corrupt ${note} note at offset ${offset} (${desc.length} bytes, expected ${size})`,
        );
      }
    };
    switch (type) {
      case NT_PRSTATUS: {
        const regs = PRSTATUS[result.machine];
        need(Math.max(regs.pc, regs.sp) + 8, "NT_PRSTATUS");
        const thread: CoreThread = {
          tid: view.getInt32(32, true),
          signal: view.getUint16(12, true),
          pc: view.getBigUint64(regs.pc, true),
          sp: view.getBigUint64(regs.sp, true),
        };
        if (thread.pc === 0n && regs.lr !== undefined) {
          thread.callerPc = view.getBigUint64(regs.lr, true);
        }
        result.threads.push(thread);
        break;
      }
      case NT_PRPSINFO: {
        need(136, "NT_PRPSINFO");
        result.process = {
          uid: view.getUint32(16, true),
          gid: view.getUint32(20, true),
          pid: view.getInt32(24, true),
          ppid: view.getInt32(28, true),
          name: cString(desc.subarray(40, 56)),
          commandLine: cString(desc.subarray(56, 136)).trimEnd(),
        };
        break;
      }
      case NT_SIGINFO: {
        need(24, "NT_SIGINFO");
        const code = view.getInt32(8, true);
        const signal: CoreSignal = {
          number: view.getInt32(0, true),
          errno: view.getInt32(4, true),
          code,
        };
        if (code > 0 && code !== 0x80) {
          signal.address = view.getBigUint64(16, true);
        } else if (code <= 0) {
          signal.senderPid = view.getInt32(16, true);
          signal.senderUid = view.getUint32(20, true);
        }
        // Only the first NT_SIGINFO (the dumping thread's) describes the crash.
        result.signal ??= signal;
        break;
      }
      case NT_AUXV: {
        for (let at = 0; at + 16 <= desc.length; at += 16) {
          const key = view.getBigUint64(at, true);
          if (key === 0n) break;
          if (key < 256n) result.auxv.set(Number(key), view.getBigUint64(at + 8, true));
        }
        break;
      }
      case NT_FILE: {
        if (result.files.length === 0) result.files = this.#parseFileNote(desc, view, offset);
        break;
      }
    }
  }

  #parseFileNote(desc: Uint8Array, view: DataView, offset: number): MappedFile[] {
    if (desc.length < 16) this.#fail(`corrupt NT_FILE note at offset ${offset}`);
    const count = view.getBigUint64(0, true);
    const pageSize = view.getBigUint64(8, true);
    if (count > BigInt(Math.floor((desc.length - 16) / 24))) {
      this.#fail(`corrupt NT_FILE note at offset ${offset} (${count} entries do not fit)`);
    }
    const n = Number(count);
    const files: MappedFile[] = [];
    let nameAt = 16 + n * 24;
    for (let i = 0; i < n; i++) {
      const at = 16 + i * 24;
      let nameEnd = desc.indexOf(0, nameAt);
      if (nameEnd < 0) nameEnd = desc.length;
      files.push({
        start: view.getBigUint64(at, true),
        end: view.getBigUint64(at + 8, true),
        fileOffset: view.getBigUint64(at + 16, true) * pageSize,
        path: utf8(desc.subarray(nameAt, nameEnd)),
      });
      nameAt = nameEnd + 1;
    }
    return files;
  }

  async #executable(notes: CoreNotes): Promise<string | undefined> {
    for (const key of [AT_PHDR, AT_ENTRY]) {
      const address = notes.auxv.get(key);
      if (address === undefined) continue;
      const file = notes.files.find((f) => f.start <= address && address < f.end);
      if (file) return file.path;
    }
    const execfn = notes.auxv.get(AT_EXECFN);
    if (execfn !== undefined && this.source.seekable) {
      const text = await readMemoryString(this.source, notes.segments, execfn, 4096);
      if (text) return text;
    }
    return notes.files[0]?.path;
  }
}

/**
 * The files mapped at their offset 0 whose first page the core holds, once each, in address
 * order. The kernel writes that page only for ELF files (the executable, shared libraries),
 * not for the data files a process maps (locale archives, caches).
 */
function modulesOf(files: MappedFile[], segments: LoadSegment[]): CoreModule[] {
  // Numbers, not bigints, for the comparisons: user-space addresses are below 2^48.
  const dumped = segments.filter((s) =>
    s.fileSize > 0 && s.vaddr < BigInt(Number.MAX_SAFE_INTEGER - s.fileSize)
  ).map((s) => ({ from: Number(s.vaddr), to: Number(s.vaddr) + s.fileSize, offset: s.fileOffset }));
  const seen = new Set<string>();
  const modules: CoreModule[] = [];
  for (const file of [...files].sort((a, b) => (a.start < b.start ? -1 : 1))) {
    if (file.fileOffset !== 0n || seen.has(file.path)) continue;
    const base = Number(file.start);
    const segment = dumped.find((s) => s.from <= base && base < s.to);
    if (!segment) continue;
    seen.add(file.path);
    const module: CoreModule = { path: file.path, base: file.start };
    FIRST_PAGES.set(module, {
      start: segment.offset + (base - segment.from),
      end: segment.offset + (segment.to - segment.from),
    });
    modules.push(module);
  }
  return modules;
}

/** Where in the core file each module's first page is (bytes `start` to `end`). */
const FIRST_PAGES = new WeakMap<CoreModule, { start: number; end: number }>();

/**
 * Reads up to `max` bytes of the process memory dumped in the core at `address`, as far as
 * the segment holding it goes; `undefined` when the core does not hold that address.
 */
async function readMemory(
  source: ByteSource,
  segments: LoadSegment[],
  address: bigint,
  max: number,
): Promise<Uint8Array | undefined> {
  const segment = segments.find((s) =>
    s.vaddr <= address && address < s.vaddr + BigInt(s.fileSize)
  );
  if (!segment) return undefined;
  const at = segment.fileOffset + Number(address - segment.vaddr);
  return await source.read(at, Math.min(max, segment.fileOffset + segment.fileSize - at));
}

/** Reads a NUL-terminated string from the process memory dumped in the core. */
async function readMemoryString(
  source: ByteSource,
  segments: LoadSegment[],
  address: bigint,
  max: number,
): Promise<string | undefined> {
  const bytes = await readMemory(source, segments, address, max);
  const end = bytes?.indexOf(0) ?? -1;
  return end > 0 ? utf8(bytes!.subarray(0, end)) : undefined;
}

function align4(n: number): number {
  return Math.ceil(n / 4) * 4;
}

function latin1(bytes: Uint8Array): string {
  let end = bytes.indexOf(0);
  if (end < 0) end = bytes.length;
  return String.fromCharCode(...bytes.subarray(0, Math.min(end, 64)));
}

const decoder = new TextDecoder();

function utf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return utf8(end < 0 ? bytes : bytes.subarray(0, end));
}
