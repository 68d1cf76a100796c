/**
 * Stores one core with `storeCompressed` (a separate process, so that its peak RSS is its own).
 * Usage: deno run -A bench/_store_one.ts SOURCE DESTINATION gzip|zstd
 *
 * @module
 */
import { storeCompressed } from "../lib/store/compress.ts";

const [source, destination, compression] = Deno.args;
await storeCompressed(source!, destination!, { compression: compression as "gzip" | "zstd" });
