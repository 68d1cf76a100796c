/**
 * Looking at directory trees in tests.
 *
 * @module
 */

/** Every file under `dir`, as paths relative to it, sorted; none when it does not exist. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const visit = (d: string, prefix: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(d)];
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.isDirectory) visit(`${d}/${e.name}`, `${prefix}${e.name}/`);
      else out.push(`${prefix}${e.name}`);
    }
  };
  visit(dir, "");
  return out.sort();
}
