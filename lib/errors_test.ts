import { assertEquals } from "../tests/support/assert.ts";
import {
  ConfigError,
  errorMessage,
  httpStatusOf,
  InputError,
  UnavailableError,
  UsageError,
} from "./errors.ts";

Deno.test("httpStatusOf() answers bad input 400, a timeout 504, unavailable 503, defects 500", () => {
  assertEquals(
    [new InputError("a"), new UsageError("b"), new ConfigError("c")].map(httpStatusOf),
    [400, 400, 400],
  );
  assertEquals(httpStatusOf(new UnavailableError("shim", { timedOut: true })), 504);
  assertEquals(httpStatusOf(new UnavailableError("S3 down")), 503);
  assertEquals(httpStatusOf(new TypeError("bug")), 500);
});

Deno.test("errorMessage() reads any thrown value", () => {
  assertEquals([errorMessage(new Error("x")), errorMessage("y"), errorMessage(7)], ["x", "y", "7"]);
});
