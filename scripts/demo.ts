/**
 * `deno task demo`: builds a small multi-threaded C program, lets it crash into a core,
 * then runs `agent analyze core` and `agent score` on that core, and `agent collect` to tie
 * it to its pod by name, store it compressed and index it, printing each command as a user
 * would type it. Everything happens in a temporary directory that is removed at the end.
 *
 * @module
 */
// deno-lint-ignore-file no-console
import { agentArgs } from "../tests/support/cli.ts";
import { crash, haveGcc, haveGdb } from "../tests/support/cores.ts";

async function agent(args: string[]): Promise<number> {
  console.log(
    `\n$ agent ${args.map((a) => (/[\s'"$]/.test(a) ? JSON.stringify(a) : a)).join(" ")}`,
  );
  const status = await new Deno.Command(Deno.execPath(), {
    args: agentArgs(args),
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  return status.code;
}

if (!haveGcc()) {
  console.log("The demo compiles a crashing C program and needs gcc: apt-get install -y gcc gdb");
  Deno.exit(await agent(["version"]));
}
if (!haveGdb()) {
  console.log("gdb is not installed: the analysis will be notes-only (apt-get install -y gdb).");
}

const dir = await Deno.makeTempDir({ prefix: "agent-demo-" });
try {
  console.log(
    "Building tests/support/programs/threads.c: four threads, one writes through a null pointer...",
  );
  const sample = await crash("threads", dir);
  console.log(
    `It crashed; the ${sample.writer === "kernel" ? "kernel" : "gdb"} wrote ${sample.core}`,
  );
  let code = await agent(["analyze", "core", sample.core]);
  if (code === 0) code = await agent(["score", sample.core, "--pod", "milvus-demo-querynode-0"]);
  if (code === 0) {
    // As core_pattern "core.%e.%p.%s.%t.%h" would name it: %h is the pod's hostname.
    await Deno.mkdir(`${dir}/crash`);
    const name = `core.threads.4242.11.${Math.floor(Date.now() / 1000)}.milvus-demo-querynode-0`;
    await Deno.rename(sample.core, `${dir}/crash/${name}`);
    const config = `${dir}/agent.yaml`;
    await Deno.writeTextFile(
      config,
      `stateDir: ${dir}/state\ncollector: {paths: [${dir}/crash]}\nstorage:\n  local: {path: ${dir}/cores}\n  compression: zstd\n`,
    );
    console.log(`\nMoved the core to ${dir}/crash/${name}; ${config} points the agent there.`);
    code = await agent(["--config", config, "--log-level", "warn", "collect"]);
    if (code === 0) {
      for await (const folder of Deno.readDir(`${dir}/cores`)) {
        for await (const file of Deno.readDir(`${dir}/cores/${folder.name}`)) {
          const info = await Deno.stat(`${dir}/cores/${folder.name}/${file.name}`);
          console.log(`stored: cores/${folder.name}/${file.name} (${info.size} bytes)`);
        }
      }
    }
  }
  console.log(
    code === 0
      ? "\nNext: 'agent analyze core CORE -o json' for scripts, 'agent score CORE... --fail-under 7' in CI,\n'agent daemon' to collect continuously (see README)."
      : `\nThe demo failed with exit code ${code}.`,
  );
  Deno.exitCode = code;
} finally {
  await Deno.remove(dir, { recursive: true });
}
