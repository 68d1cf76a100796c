/**
 * The identity of an ELF file: its GNU build-id (the `NT_GNU_BUILD_ID` note the linker
 * writes, which `strip` and `objcopy --only-keep-debug` keep, so a binary, its stripped copy
 * and its separate debug info share it) and, for a shared library, its `DT_SONAME` (the name
 * the dynamic loader, and so gdb, looks it up by). Read from the first bytes of a file on
 * disk, or of a mapping's first page in a core, with a handful of small positioned reads.
 *
 * @module
 */

/** What identifies an ELF file. */
export interface ElfIdentity {
  /** GNU build-id, lowercase hex. */
  buildId?: string;
  /** `DT_SONAME` of a shared library. */
  soname?: string;
}

/**
 * Reads `length` bytes at `offset` of an ELF file (or image), fewer when they are not there.
 */
export type ElfReader = (offset: number, length: number) => Promise<Uint8Array>;

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_NOTE = 4;
const NT_GNU_BUILD_ID = 3;
const DT_NULL = 0;
const DT_STRTAB = 5;
const DT_SONAME = 14;
/** More program headers than any real file has; a header that says more is not believed. */
const MAX_PHNUM = 512;
/** Notes and the dynamic section are small; larger ones are not read. */
const MAX_SECTION = 64 * 1024;

interface Segment {
  type: number;
  offset: number;
  vaddr: bigint;
  fileSize: number;
}

/**
 * Reads the build-id and soname of a 64-bit little-endian ELF file through `read`; an empty
 * result for anything else, or when the parts are not where `read` can reach (a core holds
 * only a mapping's first page: the notes are there, a library's dynamic section usually not).
 * Never throws for malformed data.
 *
 * @example Usage
 * ```ts ignore
 * const file = await Deno.open("/bin/ls");
 * await readElfIdentity(async (offset, length) => {
 *   const bytes = new Uint8Array(length);
 *   await file.seek(offset, Deno.SeekMode.Start);
 *   return bytes.subarray(0, (await file.read(bytes)) ?? 0);
 * }); // { buildId: "..." }
 * ```
 */
export async function readElfIdentity(
  read: ElfReader,
  options: { soname?: boolean } = {},
): Promise<ElfIdentity> {
  const header = await read(0, 64);
  if (
    header.length < 64 || header[0] !== 0x7f || header[1] !== 0x45 || header[2] !== 0x4c ||
    header[3] !== 0x46 || header[4] !== 2 || header[5] !== 1
  ) {
    return {};
  }
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  const phoff = view.getBigUint64(32, true);
  const phentsize = view.getUint16(54, true);
  const phnum = view.getUint16(56, true);
  if (phentsize !== 56 || phnum === 0 || phnum > MAX_PHNUM || phoff > BigInt(MAX_SECTION)) {
    return {};
  }
  const table = await read(Number(phoff), phnum * 56);
  const segments: Segment[] = [];
  const tv = new DataView(table.buffer, table.byteOffset, table.byteLength);
  for (let at = 0; at + 56 <= table.length; at += 56) {
    const offset = tv.getBigUint64(at + 8, true);
    const fileSize = tv.getBigUint64(at + 32, true);
    if (offset > BigInt(Number.MAX_SAFE_INTEGER) || fileSize > BigInt(Number.MAX_SAFE_INTEGER)) {
      continue;
    }
    segments.push({
      type: tv.getUint32(at, true),
      offset: Number(offset),
      vaddr: tv.getBigUint64(at + 16, true),
      fileSize: Number(fileSize),
    });
  }
  const identity: ElfIdentity = {};
  for (const note of segments.filter((s) => s.type === PT_NOTE)) {
    if (note.fileSize > MAX_SECTION) continue;
    const buildId = gnuBuildId(await read(note.offset, note.fileSize));
    if (buildId) {
      identity.buildId = buildId;
      break;
    }
  }
  const dynamic = options.soname === false
    ? undefined
    : segments.find((s) => s.type === PT_DYNAMIC);
  if (dynamic && dynamic.fileSize <= MAX_SECTION) {
    const soname = await readSoname(read, dynamic, segments.filter((s) => s.type === PT_LOAD));
    if (soname) identity.soname = soname;
  }
  return identity;
}

/**
 * The GNU build-id of an ELF image whose notes lie within `bytes` (its first page: where
 * linkers put them, right after the program headers), found without any further read; else
 * `undefined`. For a core's module pages, where nothing beyond the page is at hand anyway.
 *
 * @example Usage
 * ```ts ignore
 * buildIdInPage(firstPage); // "93ac61ec5a8eb1396f9fbd350e3169a558528a40"
 * ```
 */
export function buildIdInPage(bytes: Uint8Array): string | undefined {
  if (
    bytes.length < 64 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c ||
    bytes[3] !== 0x46 || bytes[4] !== 2 || bytes[5] !== 1
  ) {
    return undefined;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Offsets within a page fit 32 bits: the high halves must be 0 (no bigints needed).
  if (view.getUint32(36, true) !== 0) return undefined;
  const phoff = view.getUint32(32, true);
  const phnum = view.getUint16(56, true);
  if (view.getUint16(54, true) !== 56 || phnum > MAX_PHNUM) return undefined;
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * 56;
    if (at + 56 > bytes.length) return undefined;
    if (view.getUint32(at, true) !== PT_NOTE) continue;
    if (view.getUint32(at + 12, true) !== 0 || view.getUint32(at + 36, true) !== 0) continue;
    const offset = view.getUint32(at + 8, true);
    const size = view.getUint32(at + 32, true);
    if (offset + size > bytes.length) continue;
    const buildId = gnuBuildId(bytes.subarray(offset, offset + size));
    if (buildId) return buildId;
  }
  return undefined;
}

/** Finds the GNU build-id note among the notes of one PT_NOTE segment. */
function gnuBuildId(bytes: Uint8Array): string | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 0; at + 12 <= bytes.length;) {
    const nameSize = view.getUint32(at, true);
    const descSize = view.getUint32(at + 4, true);
    const type = view.getUint32(at + 8, true);
    const descAt = at + 12 + align4(nameSize);
    if (descAt + descSize > bytes.length) return undefined;
    const name = bytes.subarray(at + 12, at + 12 + nameSize);
    if (
      type === NT_GNU_BUILD_ID && nameSize === 4 && name[0] === 0x47 && name[1] === 0x4e &&
      name[2] === 0x55 && name[3] === 0 && descSize > 0 && descSize <= 64
    ) {
      return hex(bytes.subarray(descAt, descAt + descSize));
    }
    at = descAt + align4(descSize);
  }
  return undefined;
}

async function readSoname(
  read: ElfReader,
  dynamic: Segment,
  loads: Segment[],
): Promise<string | undefined> {
  const bytes = await read(dynamic.offset, dynamic.fileSize);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let strtab: bigint | undefined;
  let soname: bigint | undefined;
  for (let at = 0; at + 16 <= bytes.length; at += 16) {
    const tag = view.getBigInt64(at, true);
    if (tag === BigInt(DT_NULL)) break;
    if (tag === BigInt(DT_STRTAB)) strtab = view.getBigUint64(at + 8, true);
    if (tag === BigInt(DT_SONAME)) soname = view.getBigUint64(at + 8, true);
  }
  if (strtab === undefined || soname === undefined) return undefined;
  // DT_STRTAB is an address: the loadable segment holding it says where it is in the file.
  const load = loads.find((s) => s.vaddr <= strtab! && strtab! < s.vaddr + BigInt(s.fileSize));
  if (!load) return undefined;
  const at = load.offset + Number(strtab - load.vaddr + soname);
  const text = await read(at, 256);
  const end = text.indexOf(0);
  if (end <= 0) return undefined;
  const name = new TextDecoder().decode(text.subarray(0, end));
  return /^[\w.+-]+$/.test(name) ? name : undefined;
}

function align4(n: number): number {
  return Math.ceil(n / 4) * 4;
}

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));

function hex(bytes: Uint8Array): string {
  let text = "";
  for (const b of bytes) text += HEX[b];
  return text;
}

/**
 * The build-id and soname of the ELF file at `path`; an empty result when it is not an ELF
 * file.
 *
 * @throws {Deno.errors.NotFound} and the other filesystem errors when it cannot be opened.
 */
export async function fileIdentity(path: string): Promise<ElfIdentity> {
  // Checked first: opening a FIFO a core names would block until a writer came.
  if (!(await Deno.stat(path)).isFile) return {};
  using file = await Deno.open(path, { read: true });
  return await readElfIdentity(async (offset, length) => {
    const bytes = new Uint8Array(length);
    await file.seek(offset, Deno.SeekMode.Start);
    let filled = 0;
    while (filled < length) {
      const n = await file.read(bytes.subarray(filled));
      if (n === null) break;
      filled += n;
    }
    return bytes.subarray(0, filled);
  });
}
