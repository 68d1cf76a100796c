import fc from "fast-check";
import { assert, assertEquals, assertThrows } from "../../tests/support/assert.ts";
import { Detector, DETECTOR_NAMES } from "./detector.ts";

/** A daily rhythm with noise, 5-minute points: what the node's series look like. */
function rhythm(n: number, seed = 1): number[] {
  let s = seed;
  const noise = () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31 - 0.5;
  };
  return Array.from({ length: n }, (_, i) => 50 + 20 * Math.sin(i / 288 * 2 * Math.PI) + noise());
}

Deno.test("Detector scores a spike after an ordinary series high and the series low", () => {
  // The change-point experts judge medians of several points: a spike alone moves none.
  for (const name of DETECTOR_NAMES.filter((n) => n !== "changepoint")) {
    const detector = new Detector(name);
    const values = rhythm(2000);
    let ordinary = 0;
    values.forEach((v, i) => {
      const score = detector.update(i * 300, v);
      if (i > 1000) ordinary = Math.max(ordinary, score);
    });
    const spike = detector.update(2000 * 300, 500);
    assert(spike > 0.6, `${name}: spike scored ${spike}`);
    assert(spike > ordinary, `${name}: spike ${spike} not above ordinary ${ordinary}`);
  }
});

Deno.test("Detector scores are in [0, 1] and depend on the past only", () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.double({ noNaN: true }), fc.constant(0), fc.constant(NaN)), {
        minLength: 150,
        maxLength: 400,
      }),
      fc.integer({ min: 120, max: 149 }),
      (values, cut) => {
        const whole = new Detector("ensemble");
        const scores = values.map((v, i) => whole.update(i * 60, v));
        for (const s of scores) assert(s >= 0 && s <= 1, `score ${s}`);
        const prefix = new Detector("ensemble");
        assertEquals(
          values.slice(0, cut).map((v, i) => prefix.update(i * 60, v)),
          scores.slice(0, cut),
        );
      },
    ),
    { numRuns: 20 },
  );
});

Deno.test("Detector.save() and load() resume the scores exactly", () => {
  const values = rhythm(3000, 7);
  for (const name of DETECTOR_NAMES) {
    const straight = new Detector(name);
    const expected = values.map((v, i) => straight.update(i * 300, v));
    let detector = new Detector(name);
    const got = values.map((v, i) => {
      if (i % 700 === 699) {
        const state = detector.save();
        detector = new Detector(name);
        detector.load(state);
      }
      return detector.update(i * 300, v);
    });
    assertEquals(got, expected, name);
  }
});

Deno.test("Detector state has a fixed size, whatever the series' length", () => {
  const short = new Detector("ensemble");
  const long = new Detector("ensemble");
  rhythm(300).forEach((v, i) => short.update(i * 300, v));
  rhythm(20_000).forEach((v, i) => long.update(i * 300, v));
  assertEquals(short.save().length, long.save().length);
  assert(long.save().length <= 16 * 1024, `${long.save().length} bytes`);
});

Deno.test("Detector.load() refuses a state that is not its own", () => {
  const ensemble = new Detector("ensemble").save();
  assertThrows(() => new Detector("robust").load(ensemble), RangeError);
  assertThrows(() => new Detector("ensemble").load(ensemble.subarray(0, 100)), RangeError);
  assertThrows(() => new Detector("ensemble").load(new Uint8Array(3)), RangeError);
});

Deno.test("Detector gives a flat series 0, and a step in it an alarm that fades", () => {
  const detector = new Detector("ensemble");
  for (let i = 0; i < 1000; i++) assertEquals(detector.update(i, 45), 0);
  const step = Array.from({ length: 300 }, (_, i) => detector.update(1000 + i, 90));
  assert(step[0]! > 0.6, `step scored ${step[0]}`);
  assert(step.slice(10).every((s) => s < 0.3), "the new level becomes ordinary");
  assertEquals(step.at(-1), 0);
});

Deno.test("Detector changepoint sees a shift of the level that no single point makes rare", () => {
  const detector = new Detector("changepoint");
  const values = rhythm(1500, 3).map((v, i) => v - 20 * Math.sin(i / 288 * 2 * Math.PI));
  let ordinary = 0;
  values.forEach((v, i) => {
    const score = detector.update(i * 300, v);
    if (i > 500) ordinary = Math.max(ordinary, score);
  });
  // Noise is ±0.5: a shift of 1.5 keeps every point within the series' range of the last day.
  let shifted = 0;
  for (let i = 0; i < 12; i++) {
    shifted = Math.max(shifted, detector.update((1500 + i) * 300, values[i]! + 1.5));
  }
  assert(shifted > ordinary, `shift ${shifted}, ordinary ${ordinary}`);
});
