import { assert, assertEquals, assertThrows } from "../../tests/support/assert.ts";
import { Random } from "./_random.ts";
import { IsolationForest } from "./iforest.ts";
import { VectorDetector } from "./vector.ts";

/** A GPU at work: temperature, power and utilization moving together. */
function gpu(random: Random): number[] {
  const load = 0.8 + 0.2 * random.next();
  return [45 + 30 * load + random.next(), 100 + 200 * load + 5 * random.next(), 100 * load];
}

Deno.test("IsolationForest isolates a vector unlike its sample sooner", () => {
  const random = new Random(5);
  const forest = new IsolationForest(3);
  for (let i = 0; i < 256; i++) forest.learn(gpu(random));
  const ordinary = forest.score(gpu(random));
  // Each value within the sample's range, the combination never seen: hot and idle.
  const odd = forest.score([75, 300, 80]);
  const far = forest.score([75, 300, 0]);
  assert(ordinary < 0.65, `ordinary ${ordinary}`);
  assert(odd > ordinary, `odd ${odd}, ordinary ${ordinary}`);
  assert(far > odd, `far ${far}, odd ${odd}`);
});

Deno.test("IsolationForest refuses a sample that is not a power of two", () => {
  assertThrows(() => new IsolationForest(2, { sample: 100 }), RangeError, "power of two");
  assertThrows(() => new IsolationForest(0), RangeError, "dimensions");
});

Deno.test("VectorDetector scores a broken combination high, and resumes from its state", () => {
  const random = new Random(9);
  const detector = new VectorDetector(3);
  let ordinary = 0;
  for (let i = 0; i < 2000; i++) {
    const score = detector.update(i * 15, gpu(random));
    if (i > 500) ordinary = Math.max(ordinary, score);
  }
  const copy = new VectorDetector(3);
  copy.load(detector.save());
  const broken = detector.update(2000 * 15, [75, 300, 0]);
  assert(broken > ordinary, `broken ${broken}, ordinary ${ordinary}`);
  assertEquals(copy.update(2000 * 15, [75, 300, 0]), broken);
  assertEquals(detector.update(0, [1, 2]), 0, "a vector of another length");
  assertEquals(detector.update(0, [1, NaN, 2]), 0, "a value that is not a number");
  assertThrows(() => new VectorDetector(2).load(detector.save()), RangeError);
});
