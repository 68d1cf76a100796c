import { assert, assertEquals, assertStringIncludes, withTempDir } from "./support/assert.ts";
import { agentArgs, json, runAgent } from "./support/cli.ts";
import { haveGcc, sampleCores, skipNotice } from "./support/cores.ts";
import type { CollectResult } from "../cli/collect.ts";
import { FaultProxy, S3RVER_KEY, S3Server } from "./support/s3.ts";
import { filesUnder } from "./support/files.ts";
import { freePort } from "./support/net.ts";

const noGcc = skipNotice("gcc", haveGcc());

/** A config for `dir`; `storage` is more YAML lines under `storage:`. */
async function configIn(dir: string, storage: string[] = []): Promise<string> {
  await Deno.mkdir(`${dir}/in`, { recursive: true });
  const file = `${dir}/agent.yaml`;
  await Deno.writeTextFile(
    file,
    `stateDir: ${dir}/state
collector:
  paths: [${dir}/in]
storage:
  local: {path: ${dir}/store}
${storage.map((line) => `  ${line}\n`).join("")}analyzer:
  useGdb: false
  valueThreshold: 5
`,
  );
  return file;
}

Deno.test({
  name: "collect stores the cores of the core directories once, then finds nothing to do",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const config = await configIn(dir);
      const { segv, abort } = await sampleCores();
      await Deno.copyFile(
        segv.core,
        `${dir}/in/core.segv.11.11.1763773323.prod-milvus-querynode-0`,
      );
      await Deno.copyFile(abort.core, `${dir}/in/core.77`);
      await Deno.writeTextFile(`${dir}/in/readme.txt`, "not a core");
      const first = await runAgent(["--config", config, "collect", "-o", "json"]);
      assertEquals(first.code, 0, first.stderr);
      const results = json<CollectResult[]>(first);
      assertEquals(results.map((r) => [r.outcome, r.pod, r.match]), [
        ["stored", null, "none/none"],
        ["stored", "prod-milvus-querynode-0", "hostname/low"],
      ]);
      assertEquals(filesUnder(`${dir}/in`), ["readme.txt"]);
      assertEquals(filesUnder(`${dir}/store`).length, 4);
      const second = await runAgent(["--config", config, "collect", "-o", "json"]);
      assertEquals(json<CollectResult[]>(second), []);
      const text = await runAgent(["--config", config, "collect"]);
      assertEquals(text.stdout.trim(), `No cores to collect in ${dir}/in`);
    }),
});

Deno.test({
  name: "collect names a bad file and a missing one, exit 2, and keeps them",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const config = await configIn(dir);
      await Deno.writeTextFile(`${dir}/in/core.1`, "garbage, not an ELF core");
      const run = await runAgent([
        "--config",
        config,
        "collect",
        `${dir}/in/core.1`,
        `${dir}/in/core.2`,
        `${dir}/in`,
        "-o",
        "json",
      ]);
      assertEquals(run.code, 2, run.stderr);
      const [bad] = json<CollectResult[]>(run);
      assertEquals([bad?.outcome, bad?.state], ["failed", "quarantined"]);
      assertStringIncludes(bad!.error!, `"${dir}/in/core.1"`);
      assertStringIncludes(run.stderr, `Cannot collect "${dir}/in/core.2": no such file`);
      assertStringIncludes(run.stderr, `Not collecting "${dir}/in": not a regular file`);
      assertEquals(filesUnder(`${dir}/in`), ["core.1"]);
    }),
});

Deno.test({
  name: "collect --from-stdin spools compressed, stores, and leaves no copy behind",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const config = await configIn(dir, ["compression: zstd"]);
      const { segv } = await sampleCores();
      const run = await runAgent(
        ["--config", config, "collect", "--from-stdin", "4242", "11", "1763773400", "segv", "q-1"],
        { stdinFile: segv.core },
      );
      assertEquals(run.code, 0, run.stderr);
      assertEquals(filesUnder(`${dir}/state/spool`), []);
      assertEquals(filesUnder(`${dir}/store`), [
        "unknown/20251122T010320Z_q-1_unknown.core.zst",
        "unknown/20251122T010320Z_q-1_unknown.core.zst.json",
      ]);
      const meta = JSON.parse(
        await Deno.readTextFile(`${dir}/store/unknown/20251122T010320Z_q-1_unknown.core.zst.json`),
      );
      assertEquals(meta.metadata.original.bytes < (await Deno.stat(segv.core)).size, true);
      assertEquals(meta.metadata.signal.number, 11);
      const bad = await runAgent(["--config", config, "collect", "--from-stdin", "x"]);
      assertEquals(bad.code, 2);
      assertEquals(bad.stderr.trim(), 'Invalid pid (%P) "x": expected a whole number');
    }),
});

Deno.test("collect --install-core-pattern saves the previous pattern and restores it", () =>
  withTempDir(async (dir) => {
    const config = await configIn(dir);
    const file = `${dir}/core_pattern`;
    await Deno.writeTextFile(file, "core\n");
    const flag = `--core-pattern-file=${file}`;
    const install = await runAgent([
      "--config",
      config,
      "collect",
      flag,
      "--install-core-pattern",
      "/usr/local/bin/agent",
    ]);
    assertEquals(install.code, 0, install.stderr);
    assertEquals(
      await Deno.readTextFile(file),
      "|/usr/local/bin/agent collect --from-stdin %P %s %t %e %h\n",
    );
    // Installing twice keeps the original saved.
    await runAgent(["--config", config, "collect", flag, "--install-core-pattern", "/a/agent"]);
    const restore = await runAgent(["--config", config, "collect", flag, "--restore-core-pattern"]);
    assertEquals(restore.code, 0, restore.stderr);
    assertEquals(await Deno.readTextFile(file), "core\n");
    const again = await runAgent(["--config", config, "collect", flag, "--restore-core-pattern"]);
    assertEquals(again.code, 2);
    const relative = await runAgent([
      "--config",
      config,
      "collect",
      flag,
      "--install-core-pattern",
      "agent",
    ]);
    assertEquals(relative.code, 2);
    assertStringIncludes(relative.stderr, "absolute path");
  }));

Deno.test({
  name: "collect killed at random points 20 times stores every core exactly once",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const config = await configIn(dir, ["maxPerGroup: 0"]);
      const cores = await sampleCores();
      const samples = Object.values(cores);
      const names: string[] = [];
      for (let i = 0; i < 12; i++) {
        const name = `core.${samples[i % samples.length]!.name}.${1000 + i}.11.${
          1763773300 + i
        }.pod-${i}`;
        await Deno.copyFile(samples[i % samples.length]!.core, `${dir}/in/${name}`);
        names.push(name);
      }
      const sizes = new Map(names.map((n) => [n, Deno.statSync(`${dir}/in/${n}`).size]));
      for (let round = 0; round < 20; round++) {
        const child = new Deno.Command(Deno.execPath(), {
          args: agentArgs(["--config", config, "--log-level", "error", "collect"]),
          stdin: "null",
          stdout: "null",
          stderr: "null",
        }).spawn();
        await new Promise((r) => setTimeout(r, 150 + Math.random() * 600));
        try {
          child.kill("SIGKILL");
        } catch {
          // Already finished.
        }
        await child.status;
      }
      const final = await runAgent(["--config", config, "collect", "-o", "json"]);
      assertEquals(final.code, 0, final.stderr);
      const stored = filesUnder(`${dir}/store`);
      assertEquals(stored.filter((f) => f.includes("/.")), [], "orphan temporary files");
      const objects = stored.filter((f) => f.endsWith(".core.gz"));
      assertEquals(objects.length, names.length, objects.join("\n"));
      assertEquals(stored.filter((f) => f.endsWith(".json")).length, names.length);
      for (const object of objects) {
        const meta = JSON.parse(await Deno.readTextFile(`${dir}/store/${object}.json`));
        const original = meta.metadata.original.path.split("/").at(-1);
        assertEquals(meta.metadata.original.bytes, sizes.get(original), original);
        assert(object.includes(`_pod-${original.split(".").at(-1)!.slice(4)}_`), object);
      }
      assertEquals(filesUnder(`${dir}/in`), []);
    }),
});

Deno.test({
  name: "collect stores into S3, retried through 500s, and keeps the core while S3 is down",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const s3 = await S3Server.start("cores");
      // Every second UploadPart/PutObject answers 500 first: the retry must carry it through.
      const proxy = await FaultProxy.start(
        s3.endpoint,
        (request, nth) => request.method === "PUT" && nth % 2 === 1 ? "error" : "pass",
      );
      try {
        const s3Config = (endpoint: string) => [
          "backend: s3",
          "s3:",
          `  endpoint: ${endpoint}`,
          "  bucket: cores",
          `  accessKeyId: ${S3RVER_KEY}`,
          `  secretAccessKey: ${S3RVER_KEY}`,
        ];
        const { segv, abort } = await sampleCores();
        const up = await configIn(dir, s3Config(proxy.endpoint));
        await Deno.copyFile(segv.core, `${dir}/in/core.segv.1.11.1763773323.q-0`);
        const stored = await runAgent(["--config", up, "collect", "-o", "json"]);
        assertEquals(stored.code, 0, stored.stderr);
        assertEquals(
          json<CollectResult[]>(stored)[0]?.storedUri,
          "s3://cores/cores/unknown/20251122T010203Z_q-0_unknown.core.gz",
        );
        assertEquals(await s3.keys(), [
          "cores/unknown/20251122T010203Z_q-0_unknown.core.gz",
          "cores/unknown/20251122T010203Z_q-0_unknown.core.gz.json",
        ]);
        assertEquals(filesUnder(`${dir}/in`), []);
        assert(proxy.seen.filter((r) => r.fault === "error").length >= 2, "no 500 was injected");

        const down = await configIn(dir, s3Config(`http://127.0.0.1:${freePort()}`));
        await Deno.copyFile(abort.core, `${dir}/in/core.2`);
        const failed = await runAgent(["--config", down, "collect", "-o", "json"]);
        assertEquals(failed.code, 3, failed.stderr);
        const [result] = json<CollectResult[]>(failed);
        assertEquals(result?.state, "failed");
        assertStringIncludes(result!.error!, "127.0.0.1");
        assertEquals(filesUnder(`${dir}/in`), ["core.2"]);
        assertEquals(await s3.uploads(), []);
      } finally {
        await proxy.stop();
        await s3.stop();
      }
    }),
});

Deno.test({
  name: "collect keeps the .core.gz suffix and the metadata name of a core with a very long name",
  ignore: noGcc,
  fn: () =>
    withTempDir(async (dir) => {
      const config = await configIn(dir);
      const { segv } = await sampleCores();
      const pod = `prod-milvus-${"querynode".repeat(23)}-0`;
      await Deno.copyFile(segv.core, `${dir}/in/core.segv.4242.11.1763773323.${pod}`);
      const run = await runAgent(["--config", config, "collect", "-o", "json"]);
      assertEquals(run.code, 0, run.stderr);
      const [result] = json<CollectResult[]>(run);
      assertEquals(result?.pod, pod);
      const stored = filesUnder(`${dir}/store`);
      assertEquals(stored.length, 2, stored.join("\n"));
      const [core, metadata] = stored;
      assert(core!.endsWith(".core.gz"), core);
      assertEquals(metadata, `${core}.json`);
      assert(core!.split("/")[1]!.length <= 160, core);
      assertEquals(result?.storedUri, `file://${dir}/store/${core}`);
    }),
});
