/**
 * `deno task install`: puts an `agent` launcher on PATH, as `deno install` would, into
 * `$DENO_INSTALL_ROOT/bin` (default `~/.deno/bin`; `--root DIR` chooses another). The
 * launcher runs this checkout's `main.ts` with the project's `agent` permission set, quietly,
 * from the directory it is called in, so that the manual's examples (`agent analyze core
 * ./core.1234`) run as written anywhere. Deno's module cache is filled now, so that the first
 * run prints nothing but its own output.
 *
 * `deno install -g` is not used: its launcher calls `deno` from PATH, which a machine that runs
 * Deno through `npx` does not have. This one names the Deno binary that ran the installation;
 * when that binary lives in npx's cache (which npm may clean), it is copied next to the
 * launcher first, where Deno's own installer puts it.
 *
 * @module
 */
// deno-lint-ignore-file no-console
import { LATER_MODULES } from "../main.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");
/** The V8 flags of deno.json's start task and of every `deno compile` (tests/v8_flags_test.ts). */
const V8_FLAGS =
  "--v8-flags=--max-semi-space-size=1,--heap-growing-percent=50,--no-concurrent-recompilation";

/** A word for sh: single-quoted, with single quotes inside closed and escaped. */
function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

function installRoot(args: string[]): string {
  const flag = args.indexOf("--root");
  if (flag >= 0) {
    const value = args[flag + 1];
    if (!value) throw new Error("--root needs a directory");
    return value;
  }
  const fromEnv = Deno.env.get("DENO_INSTALL_ROOT");
  if (fromEnv) return fromEnv;
  const home = Deno.env.get("HOME");
  if (!home) throw new Error("HOME is not set: give --root DIR or set DENO_INSTALL_ROOT");
  return `${home}/.deno`;
}

/** The Deno binary the launcher runs: this one, or a copy of it when it is npx's. */
async function denoBinary(bin: string): Promise<string> {
  const deno = Deno.execPath();
  if (!deno.includes("/_npx/")) return deno;
  const copy = `${bin}/deno`;
  const current = await new Deno.Command(copy, { args: ["--version"], stdout: "piped" }).output()
    .then((out) => new TextDecoder().decode(out.stdout), () => "");
  if (!current.startsWith(`deno ${Deno.version.deno} `)) {
    // Beside the old one, then renamed over it: a running `agent` keeps its binary.
    await Deno.copyFile(deno, `${copy}.new`);
    await Deno.chmod(`${copy}.new`, 0o755);
    await Deno.rename(`${copy}.new`, copy);
    console.log(`Copied Deno ${Deno.version.deno} from npx's cache to ${copy}`);
  }
  return copy;
}

async function main(args: string[]): Promise<number> {
  const bin = `${installRoot(args)}/bin`;
  await Deno.mkdir(bin, { recursive: true });
  const deno = await denoBinary(bin);
  const config = `${ROOT}/deno.json`;
  const entry = `${ROOT}/main.ts`;
  const cached = await new Deno.Command(deno, {
    // main.ts imports the command line by a specifier `deno cache` does not read: named here.
    args: [
      "cache",
      "-q",
      "--config",
      config,
      ...["main.ts", ...LATER_MODULES].map((m) => `${ROOT}/${m}`),
    ],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!cached.success) {
    console.error(`deno cache failed (exit code ${cached.code}): agent not installed`);
    return 1;
  }
  const launcher = `${bin}/agent`;
  await Deno.writeTextFile(
    `${launcher}.new`,
    [
      "#!/bin/sh",
      `# The agent from ${ROOT}, installed by deno task install.`,
      `exec ${shellQuote(deno)} run -q ${V8_FLAGS} -P=agent --config ${shellQuote(config)} ${
        shellQuote(entry)
      } "$@"`,
      "",
    ].join("\n"),
    { mode: 0o755 },
  );
  await Deno.chmod(`${launcher}.new`, 0o755);
  await Deno.rename(`${launcher}.new`, launcher);
  console.log(`Installed ${launcher} (runs ${ROOT})`);
  const path = (Deno.env.get("PATH") ?? "").split(":");
  if (!path.includes(bin)) {
    console.log(`${bin} is not on your PATH; add it, e.g. in ~/.profile:`);
    console.log(`  export PATH="${bin}:$PATH"`);
  }
  return 0;
}

try {
  Deno.exit(await main(Deno.args));
} catch (error) {
  console.error(`Cannot install agent: ${error instanceof Error ? error.message : error}`);
  Deno.exit(1);
}
