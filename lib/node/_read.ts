/**
 * Reading the host's pseudo-files: whole (they are small, and a kernel file read in pieces
 * can change between the pieces), capped, with "missing" told from "unreadable".
 *
 * @module
 */
import { errorMessage } from "../errors.ts";
import type { Labels, MetricFamily, MetricType } from "../prom/mod.ts";
import type { CollectContext } from "./collector.ts";

/** Pseudo-files this large are not what the collectors expect. */
const MAX_FILE_BYTES = 16 << 20;

/**
 * The text of `path`, or `undefined` when it does not exist (or cannot be read: then the
 * context is warned, naming the file).
 */
export async function readText(
  context: Pick<CollectContext, "warn">,
  path: string,
  options: { optional?: boolean } = {},
): Promise<string | undefined> {
  try {
    const bytes = await Deno.readFile(path);
    if (bytes.length > MAX_FILE_BYTES) {
      context.warn(path, `larger than ${MAX_FILE_BYTES} bytes: not read`);
      return undefined;
    }
    return new TextDecoder().decode(bytes);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      if (!options.optional) context.warn(path, "no such file");
    } else {
      context.warn(path, errorMessage(error));
    }
    return undefined;
  }
}

/** The entries of a directory, sorted; none when it does not exist. */
export async function listDir(path: string): Promise<Deno.DirEntry[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(path))).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0
    );
  } catch {
    return [];
  }
}

/** A number, or `undefined` for text that is not one (the caller skips that value). */
export function toNumber(text: string | undefined): number | undefined {
  if (text === undefined || text.trim() === "") return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

/** Builds families sample by sample, one per name, in the order first seen. */
export class Families {
  readonly #families = new Map<string, MetricFamily>();

  /** Adds a sample of `name` (created with `help` and `type` the first time). */
  add(
    name: string,
    help: string,
    type: MetricType,
    value: number,
    labels: Labels = {},
  ): void {
    let family = this.#families.get(name);
    if (!family) {
      family = { name, help, type, samples: [] };
      this.#families.set(name, family);
    }
    family.samples.push({ name, labels, value });
  }

  /** The families built. */
  list(): MetricFamily[] {
    return [...this.#families.values()];
  }
}
