/**
 * Writes cli/_help_tree.ts and cli/_help_texts.ts, the commands and their help as tables, from
 * the command line (`deno task help-texts`; `deno task snapshots` runs it too).
 *
 * @module
 */
import { buildCli, helpTables, helpTextsSource, helpTreeSource } from "../cli/mod.ts";

const { program } = buildCli({ out: () => {}, err: () => {} });
const { tree, texts } = await helpTables(program);
await Deno.writeTextFile(new URL("../cli/_help_tree.ts", import.meta.url), helpTreeSource(tree));
await Deno.writeTextFile(new URL("../cli/_help_texts.ts", import.meta.url), helpTextsSource(texts));
