import { assert, assertEquals } from "../../tests/support/assert.ts";
import { StateReader, StateWriter } from "./_codec.ts";
import { LinearForecast } from "./forecast.ts";

Deno.test("LinearForecast.secondsToReach() extrapolates a steady fill", () => {
  const f = new LinearForecast(3600);
  // 40% full, rising 1% per 100 s, with a small saw-tooth on top.
  for (let t = 0; t <= 7200; t += 15) f.add(t, 40 + t / 100 + (t % 60 === 0 ? 0.2 : -0.1));
  const seconds = f.secondsToReach(100)!;
  // Full at t = 6000 s from the start: 200 s before the last point, so it is past already.
  assertEquals(seconds, 0);
  const g = new LinearForecast(3600);
  for (let t = 0; t <= 3600; t += 15) g.add(t, 40 + t / 100);
  const left = g.secondsToReach(100)!;
  assert(Math.abs(left - 2400) < 1, `${left}`);
});

Deno.test("LinearForecast says Infinity for a falling or flat series, nothing before enough points", () => {
  const f = new LinearForecast(3600);
  assertEquals(f.secondsToReach(100), undefined);
  for (let t = 0; t < 300; t += 60) f.add(t, 50);
  assertEquals(f.secondsToReach(100), undefined, "spans less than a quarter of the horizon");
  for (let t = 300; t <= 3600; t += 60) f.add(t, 50 - t / 1000);
  assertEquals(f.secondsToReach(100), Infinity);
});

Deno.test("LinearForecast follows a new trend and forgets the old one", () => {
  const f = new LinearForecast(600);
  for (let t = 0; t <= 7200; t += 10) f.add(t, t < 3600 ? 10 : 10 + (t - 3600) / 10);
  const slope = f.trend()!.slope;
  assert(Math.abs(slope - 0.1) < 0.003, `${slope}`);
  f.add(100, 1e9);
  assertEquals(f.trend()!.slope, slope, "a point older than the newest is skipped");
});

Deno.test("LinearForecast.save() and load() keep the trend", () => {
  const f = new LinearForecast();
  for (let t = 0; t <= 86_400; t += 300) f.add(t, Math.sqrt(t));
  const writer = new StateWriter();
  f.save(writer);
  const g = new LinearForecast();
  g.load(new StateReader(writer.bytes()));
  assertEquals(g.trend(), f.trend());
});
