/**
 * Builds small synthetic ELF files in memory for bad-input tests: headers of other
 * classes, byte orders, types and machines, and minimal cores with chosen notes.
 *
 * @module
 */

/** Fields of a synthetic ELF header. */
export interface ElfHeaderFields {
  elfClass?: number;
  data?: number;
  type?: number;
  machine?: number;
  phoff?: number;
  phnum?: number;
  phentsize?: number;
}

/** A 64-byte ELF header (little-endian field layout of ELF64). */
export function elfHeader(fields: ElfHeaderFields = {}): Uint8Array {
  const bytes = new Uint8Array(64);
  const view = new DataView(bytes.buffer);
  bytes.set([0x7f, 0x45, 0x4c, 0x46, fields.elfClass ?? 2, fields.data ?? 1, 1]);
  const le = (fields.data ?? 1) === 1;
  view.setUint16(16, fields.type ?? 4, le);
  view.setUint16(18, fields.machine ?? 62, le);
  view.setUint32(20, 1, le);
  view.setBigUint64(32, BigInt(fields.phoff ?? 64), le);
  view.setUint16(52, 64, le);
  view.setUint16(54, fields.phentsize ?? 56, le);
  view.setUint16(56, fields.phnum ?? 1, le);
  return bytes;
}

/** One note: name, type and descriptor bytes. */
export interface NoteSpec {
  name?: string;
  type: number;
  desc: Uint8Array;
}

function pad4(n: number): number {
  return Math.ceil(n / 4) * 4;
}

/** Encodes notes in the ELF note format (4-byte aligned). */
export function encodeNotes(notes: NoteSpec[]): Uint8Array {
  const size = notes.reduce(
    (sum, n) => sum + 12 + pad4((n.name ?? "CORE").length + 1) + pad4(n.desc.length),
    0,
  );
  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  let at = 0;
  for (const note of notes) {
    const name = new TextEncoder().encode((note.name ?? "CORE") + "\0");
    view.setUint32(at, name.length, true);
    view.setUint32(at + 4, note.desc.length, true);
    view.setUint32(at + 8, note.type, true);
    bytes.set(name, at + 12);
    at += 12 + pad4(name.length);
    bytes.set(note.desc, at);
    at += pad4(note.desc.length);
  }
  return bytes;
}

/** An x86_64 NT_PRSTATUS descriptor for thread `tid` with `pc` and `sp`. */
export function prstatus(tid: number, signal: number, pc: bigint, sp: bigint): Uint8Array {
  const desc = new Uint8Array(336);
  const view = new DataView(desc.buffer);
  view.setInt32(0, signal, true);
  view.setUint16(12, signal, true);
  view.setInt32(32, tid, true);
  view.setBigUint64(240, pc, true);
  view.setBigUint64(264, sp, true);
  return desc;
}

/** A minimal x86_64 core: header, one PT_NOTE program header, the notes. */
export function minimalCore(notes: NoteSpec[], machine = 62): Uint8Array {
  const body = encodeNotes(notes);
  const header = elfHeader({ machine, phnum: 1 });
  const phdr = new Uint8Array(56);
  const view = new DataView(phdr.buffer);
  view.setUint32(0, 4, true);
  view.setBigUint64(8, 120n, true);
  view.setBigUint64(32, BigInt(body.length), true);
  view.setBigUint64(48, 4n, true);
  const out = new Uint8Array(120 + body.length);
  out.set(header, 0);
  out.set(phdr, 64);
  out.set(body, 120);
  return out;
}

/** An x86_64 NT_PRPSINFO descriptor: `name` (up to 15 bytes) and the command line `args`. */
export function prpsinfo(pid: number, name: string, args: string): Uint8Array {
  const desc = new Uint8Array(136);
  new DataView(desc.buffer).setInt32(24, pid, true);
  const encoder = new TextEncoder();
  desc.set(encoder.encode(name).subarray(0, 15), 40);
  desc.set(encoder.encode(args).subarray(0, 79), 56);
  return desc;
}

/** An NT_SIGINFO descriptor: a fault (`code` > 0) at `address`. */
export function siginfo(signal: number, code: number, address: bigint): Uint8Array {
  const desc = new Uint8Array(128);
  const view = new DataView(desc.buffer);
  view.setInt32(0, signal, true);
  view.setInt32(8, code, true);
  view.setBigUint64(16, address, true);
  return desc;
}

/** An NT_AUXV descriptor from `[key, value]` pairs, ended by AT_NULL. */
export function auxv(entries: [number, bigint][]): Uint8Array {
  const desc = new Uint8Array((entries.length + 1) * 16);
  const view = new DataView(desc.buffer);
  entries.forEach(([key, value], i) => {
    view.setBigUint64(i * 16, BigInt(key), true);
    view.setBigUint64(i * 16 + 8, value, true);
  });
  return desc;
}

/** A file mapped into the dumped process, for {@linkcode fileNote}. */
export interface MappedFileSpec {
  start: bigint;
  end: bigint;
  path: string;
}

/** An NT_FILE descriptor listing `files` (page size 4096, offset 0). */
export function fileNote(files: MappedFileSpec[]): Uint8Array {
  const names = files.map((f) => new TextEncoder().encode(f.path + "\0"));
  const desc = new Uint8Array(16 + files.length * 24 + names.reduce((n, b) => n + b.length, 0));
  const view = new DataView(desc.buffer);
  view.setBigUint64(0, BigInt(files.length), true);
  view.setBigUint64(8, 4096n, true);
  files.forEach((f, i) => {
    view.setBigUint64(16 + i * 24, f.start, true);
    view.setBigUint64(16 + i * 24 + 8, f.end, true);
  });
  let at = 16 + files.length * 24;
  for (const name of names) {
    desc.set(name, at);
    at += name.length;
  }
  return desc;
}

/** Note types of {@linkcode minimalCore}'s notes. */
export const NT = {
  PRSTATUS: 1,
  PRPSINFO: 3,
  AUXV: 6,
  SIGINFO: 0x53494749,
  FILE: 0x46494c45,
} as const;
