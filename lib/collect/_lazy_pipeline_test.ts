import { loadConfig } from "../config/mod.ts";
import { createLogger } from "../log.ts";
import { CoreIndex } from "../store/core_index.ts";
import { LocalStore } from "../store/local.ts";
import { openState } from "../store/state.ts";
import { assertEquals, withTempDir } from "../../tests/support/assert.ts";
import { LazyPipeline } from "./_lazy_pipeline.ts";

async function lazyPipeline(dir: string): Promise<LazyPipeline> {
  const config = await loadConfig({
    env: () => undefined,
    flags: { "analyzer.useGdb": false, "collector.paths": [`${dir}/in`] },
  });
  return new LazyPipeline({
    config,
    index: new CoreIndex(await openState(":memory:")),
    store: new LocalStore(`${dir}/store`, "local", "test"),
    log: createLogger({ level: "debug", format: "json", write: () => {} }),
  });
}

Deno.test("LazyPipeline counts a core handed over while it loads as busy, and takes it once", () =>
  withTempDir(async (dir) => {
    const pipeline = await lazyPipeline(dir);
    const path = `${dir}/in/core.gone`;
    assertEquals(pipeline.busy(path), false);
    const first = pipeline.process(path);
    assertEquals(pipeline.busy(path), true);
    // The same core again while the first call waits: nothing to do, as CorePipeline says.
    assertEquals(await pipeline.process(path), undefined);
    // A core that is gone by the time the pipeline runs is no work either.
    assertEquals(await first, undefined);
    assertEquals(pipeline.busy(path), false);
    assertEquals(await pipeline.process(path), undefined);
  }));
