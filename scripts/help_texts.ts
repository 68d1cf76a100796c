/**
 * Writes cli/_help_texts.ts, the help of every command as a table, from the command line
 * (`deno task help-texts`; `deno task snapshots` runs it too).
 *
 * @module
 */
import { buildCli, helpTexts, helpTextsSource } from "../cli/mod.ts";

const { program } = buildCli({ out: () => {}, err: () => {} });
const file = new URL("../cli/_help_texts.ts", import.meta.url);
await Deno.writeTextFile(file, helpTextsSource(await helpTexts(program)));
