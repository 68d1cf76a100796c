import { DatabaseSync } from "node:sqlite";
import { assert, assertEquals } from "../tests/support/assert.ts";
import { prepared } from "./sqlite.ts";

Deno.test("prepared() prepares a text once per database and answers as a new statement would", () => {
  const a = new DatabaseSync(":memory:");
  const b = new DatabaseSync(":memory:");
  try {
    for (const db of [a, b]) db.exec("CREATE TABLE t (n INTEGER)");
    const insert = "INSERT INTO t (n) VALUES (?)";
    assert(prepared(a, insert) === prepared(a, insert));
    assert(prepared(a, insert) !== prepared(b, insert));
    for (let n = 0; n < 1000; n++) prepared(a, insert).run(n);
    prepared(b, insert).run(7);
    const count = "SELECT COUNT(*) AS n, SUM(n) AS s FROM t";
    assertEquals({ ...prepared(a, count).get() }, { n: 1000, s: 499_500 });
    assertEquals({ ...prepared(b, count).get() }, { n: 1, s: 7 });
  } finally {
    a.close();
    b.close();
  }
});

Deno.test("prepared() keeps a bounded number of statements when texts vary", () => {
  const db = new DatabaseSync(":memory:");
  try {
    const first = prepared(db, "SELECT 0 AS n");
    // Texts built from arguments: far more than are kept, each still answering right.
    for (let i = 1; i <= 1000; i++) {
      assertEquals(prepared(db, `SELECT ${i} AS n`).get()?.n, i);
    }
    // The first one was dropped along the way and is prepared again.
    assert(prepared(db, "SELECT 0 AS n") !== first);
    assertEquals(prepared(db, "SELECT 0 AS n").get()?.n, 0);
  } finally {
    db.close();
  }
});
