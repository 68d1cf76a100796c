/**
 * Keeps README.md and the manual in docs/ true to the code: every configuration key with its
 * default and environment variable, every command, every exit code; every relative link and
 * anchor resolves, every page is reachable from the README, and the README stays short.
 */
import { assert, assertEquals, assertMatch, assertStringIncludes } from "./support/assert.ts";
import { runAgent } from "./support/cli.ts";
import { configKeys, ENV_ALIASES, envName } from "../lib/config/mod.ts";
import { ExitCode } from "../lib/errors.ts";

const ROOT = new URL("../", import.meta.url);

function read(path: string): Promise<string> {
  return Deno.readTextFile(new URL(path, ROOT));
}

const readme = await read("README.md");
const configuration = await read("docs/configuration.md");

/** The Markdown files under `dir` (relative to the root), sorted. */
async function markdownFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const entry of Deno.readDir(new URL(`${dir}/`, ROOT))) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) files.push(...await markdownFiles(path));
    else if (entry.isFile && entry.name.endsWith(".md")) files.push(path);
  }
  return files.sort();
}

/** The cells of a Markdown table row (`\|` stays inside its cell), or undefined. */
function cells(line: string): string[] | undefined {
  if (!line.startsWith("|") || !line.endsWith("|")) return undefined;
  return line.slice(1, -1).split(/(?<!\\)\|/).map((cell) => cell.trim());
}

/** Markdown without fenced code blocks: what is rendered as text, headings and links. */
function withoutFences(markdown: string): string {
  return markdown.replace(/^ *```[^\n]*\n[\s\S]*?^ *```$/gm, "");
}

/** The targets of the inline links of `markdown` (code spans and blocks are not links). */
function linkTargets(markdown: string): string[] {
  const text = withoutFences(markdown).replace(/`[^`]*`/g, "");
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
}

/**
 * The anchors GitHub gives the headings of `markdown`: the heading's text without its
 * Markdown (links become their text, code loses its backticks), lowercased, punctuation other
 * than `-` and `_` dropped, spaces turned to `-`; a repeated anchor gets `-1`, `-2`, ...
 */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const [, heading] of withoutFences(markdown).matchAll(/^#{1,6} +(.+?) *#* *$/gm)) {
    const base = heading!
      .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
      .replaceAll("`", "")
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, "")
      .replaceAll(" ", "-");
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.add(count === 0 ? base : `${base}-${count}`);
  }
  return result;
}

/** A link from `page` to `target`, resolved: the file (relative to the root) and the anchor. */
async function resolve(page: string, target: string): Promise<{ file: string; anchor?: string }> {
  const [path, anchor] = target.split("#", 2) as [string, string | undefined];
  const url = new URL(path, new URL(page, ROOT));
  let file = decodeURIComponent(url.pathname.slice(ROOT.pathname.length)).replace(/\/$/, "");
  // A folder shows its README.md on GitHub.
  const info = await Deno.stat(new URL(file, ROOT)).catch(() => undefined);
  if (info?.isDirectory) {
    const index = `${file}/README.md`;
    if (await Deno.stat(new URL(index, ROOT)).catch(() => undefined)) file = index;
  }
  return anchor === undefined ? { file } : { file, anchor };
}

/** Whether a link leaves the repository (`https:`, `mailto:`). */
function isExternal(target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(target);
}

const pages = ["README.md", ...await markdownFiles("docs")];

Deno.test("docs/configuration.md documents every key with its default and environment variable", () => {
  const rows = new Map<string, string[]>();
  for (const line of configuration.split("\n")) {
    const row = cells(line);
    if (row?.length === 4 && row[2]!.startsWith("`AGENT_")) rows.set(row[0]!, row);
  }
  const keys = configKeys();
  for (const [key, value] of keys) {
    const row = rows.get(`\`${key}\``);
    assert(row, `docs/configuration.md lacks a row for ${key}`);
    assertEquals(row[1], `\`${JSON.stringify(value)}\``, `the default of ${key}`);
    assertEquals(row[2], `\`${envName(key)}\``, `the environment variable of ${key}`);
    assert(row[3] !== "", `docs/configuration.md does not say what ${key} means`);
  }
  const known = new Set(keys.map(([key]) => `\`${key}\``));
  for (const key of rows.keys()) {
    assert(known.has(key), `docs/configuration.md documents ${key}, which the schema lacks`);
  }
  for (const [key, name] of Object.entries(ENV_ALIASES)) {
    assertMatch(configuration, new RegExp(`^\\| \`${name}\` +\\| \`${key}\` +\\|$`, "m"));
  }
});

Deno.test("every command in --help has a page in docs/commands/ and a row in README", async () => {
  const help = await runAgent(["--help"]);
  const section = help.stdout.split("Commands:\n")[1]!.split("\n\n")[0]!;
  const commands = [...section.matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1]!).filter((c) =>
    c !== "help"
  );
  assert(commands.length >= 8, help.stdout);
  const index = await read("docs/commands/README.md");
  for (const command of commands) {
    const page = await read(`docs/commands/${command}.md`);
    assertMatch(page, new RegExp(`^# \`agent ${command}\\b`), `docs/commands/${command}.md`);
    const row = readme.split("\n").find((line) =>
      cells(line) !== undefined && line.includes(`(docs/commands/${command}.md)`)
    );
    assert(row, `README's command table lacks a row for ${command}`);
    assertStringIncludes(row, `\`agent ${command}`);
    assertStringIncludes(index, `(${command}.md)`);
  }
  for (const page of await markdownFiles("docs/commands")) {
    const name = page.slice("docs/commands/".length, -".md".length);
    assert(name === "README" || commands.includes(name), `${page} is no command of --help`);
  }
});

Deno.test("README lists every exit code", () => {
  const section = readme.split("\n## Exit codes\n")[1]!.split("\n## ")[0]!;
  const documented = section.split("\n").map(cells).filter((row) => row && /^\d/.test(row[0]!))
    .flatMap((row) => row![0]!.split(/, */).map(Number));
  assertEquals(documented.sort(), Object.values(ExitCode).sort());
});

Deno.test("README keeps the quick start and stays under 12 KB", () => {
  assertStringIncludes(readme, "npx -y deno@2.9.6 task demo");
  assertStringIncludes(readme, "npx -y deno@2.9.6 task test");
  const bytes = new TextEncoder().encode(readme).length;
  assert(bytes < 12 * 1024, `README.md is ${bytes} bytes: move reference material to docs/`);
});

Deno.test("every relative link in README and docs/ points to a file and a heading that exist", async () => {
  const problems: string[] = [];
  for (const page of pages) {
    for (const target of linkTargets(await read(page))) {
      if (isExternal(target)) continue;
      const { file, anchor } = await resolve(page, target);
      const info = await Deno.stat(new URL(file, ROOT)).catch(() => undefined);
      if (!info) {
        problems.push(`${page}: ${target}: no such file`);
      } else if (anchor !== undefined) {
        if (!file.endsWith(".md")) problems.push(`${page}: ${target}: an anchor into no Markdown`);
        else if (!anchors(await read(file)).has(anchor)) {
          problems.push(`${page}: ${target}: no heading "#${anchor}" in ${file}`);
        }
      }
    }
  }
  assertEquals(problems, []);
});

Deno.test("every page of docs/ is reachable from README", async () => {
  const reached = new Set(["README.md"]);
  const queue = ["README.md"];
  while (queue.length > 0) {
    const page = queue.shift()!;
    for (const target of linkTargets(await read(page))) {
      if (isExternal(target)) continue;
      const { file } = await resolve(page, target);
      const inManual = file === "README.md" || file.startsWith("docs/");
      if (!file.endsWith(".md") || !inManual || reached.has(file) || !pages.includes(file)) {
        continue;
      }
      reached.add(file);
      queue.push(file);
    }
  }
  assertEquals(pages.filter((page) => !reached.has(page)), []);
});

Deno.test("anchors() follows GitHub's rules", () => {
  const got = anchors(
    "# `agent analyze core`\n## The agent's metrics\n### `/metrics?sandbox=ID`\n" +
      "## Examples\n## Examples\n```\n# not a heading\n```\n### `analyzer.scoring`\n",
  );
  assertEquals([...got], [
    "agent-analyze-core",
    "the-agents-metrics",
    "metricssandboxid",
    "examples",
    "examples-1",
    "analyzerscoring",
  ]);
});
