/**
 * Whether an executable may hold the Go runtime, from its section names: the gdb scripts
 * that read a goroutine (lib/core/gdb.ts) look up Go's types, and a failed type lookup makes
 * gdb search every library's debug info, which costs a quarter of a short run on a core of a
 * program that is not Go.
 *
 * @module
 */

/** Section names the Go linker (gc) writes, also when the symbols are stripped. */
const GO_SECTIONS = [".gopclntab", ".go.buildinfo", ".note.go.buildid"];

/** Section tables larger than this are not read: the file may be Go. */
const MAX_TABLE_BYTES = 1 << 20;

/**
 * `false` when the file at `path` is a 64-bit little-endian ELF file whose section table
 * names none of Go's sections; `true` otherwise, whenever in doubt (no section table, another
 * ELF class, a file that cannot be read): a Go program is never taken for another.
 *
 * @example Usage
 * ```ts ignore
 * await mayBeGo("/usr/bin/ls"); // false
 * ```
 */
export async function mayBeGo(path: string): Promise<boolean> {
  try {
    using file = await Deno.open(path, { read: true });
    const read = async (offset: number, length: number): Promise<Uint8Array | undefined> => {
      const bytes = new Uint8Array(length);
      await file.seek(offset, Deno.SeekMode.Start);
      let filled = 0;
      while (filled < length) {
        const n = await file.read(bytes.subarray(filled));
        if (n === null) return undefined;
        filled += n;
      }
      return bytes;
    };
    const header = await read(0, 64);
    if (
      !header || header[0] !== 0x7f || header[1] !== 0x45 || header[2] !== 0x4c ||
      header[3] !== 0x46 || header[4] !== 2 || header[5] !== 1
    ) {
      return true;
    }
    const view = new DataView(header.buffer);
    const shoff = Number(view.getBigUint64(40, true));
    const shentsize = view.getUint16(58, true);
    const shnum = view.getUint16(60, true);
    const shstrndx = view.getUint16(62, true);
    // No table, or one counted elsewhere (SHN_XINDEX): unknown.
    if (shoff === 0 || shentsize !== 64 || shnum === 0 || shstrndx >= shnum) return true;
    if (shnum * 64 > MAX_TABLE_BYTES) return true;
    const table = await read(shoff, shnum * 64);
    if (!table) return true;
    const sections = new DataView(table.buffer);
    const namesAt = Number(sections.getBigUint64(shstrndx * 64 + 24, true));
    const namesSize = Number(sections.getBigUint64(shstrndx * 64 + 32, true));
    if (namesSize === 0 || namesSize > MAX_TABLE_BYTES) return true;
    const names = await read(namesAt, namesSize);
    if (!names) return true;
    const decoder = new TextDecoder();
    for (let i = 0; i < shnum; i++) {
      const start = sections.getUint32(i * 64, true);
      if (start >= names.length) continue;
      const end = names.indexOf(0, start);
      const name = decoder.decode(names.subarray(start, end < 0 ? names.length : end));
      if (GO_SECTIONS.includes(name)) return true;
    }
    return false;
  } catch {
    return true;
  }
}
