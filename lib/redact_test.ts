import { assertEquals } from "../tests/support/assert.ts";
import { redactUrls } from "./redact.ts";

Deno.test("redactUrls() hides the user and password of every URL", () => {
  assertEquals(
    redactUrls('endpoint "https://agent:s3cret@minio:9000/b" and s3://k@bucket/x'),
    'endpoint "https://***@minio:9000/b" and s3://***@bucket/x',
  );
  assertEquals(redactUrls("http://u:p@ss@host/a@b"), "http://***@host/a@b");
  assertEquals(redactUrls("HTTPS://TOKEN@github.com"), "HTTPS://***@github.com");
});

Deno.test("redactUrls() leaves text without credentials alone", () => {
  for (
    const text of [
      "https://minio:9000/bucket?x=a@b",
      "mail root@example.com",
      "unix:///run/containerd/containerd.sock",
      "s3://bucket/cores/",
    ]
  ) {
    assertEquals(redactUrls(text), text);
  }
});
