// The platform's gRPC side for tests, run by real Node.js with a real @grpc/grpc-js (Deno's
// node:http2 server is not solid enough for a peer: it loses half-closes and aborts on some
// GOAWAYs). Driven by tests/support/grpc_platform.ts: the proto file and the introspection URL
// come as arguments, commands arrive on stdin (one JSON per line: breakAfter, stop, restart),
// and each stored frame, counter change and acknowledgement leaves on stdout as a JSON line.
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import * as grpc from "@grpc/grpc-js";
import * as loader from "@grpc/proto-loader";
import protobuf from "protobufjs";

const [protoFile, introspectUrl, serviceName] = process.argv.slice(2);
const { root } = protobuf.parse(readFileSync(protoFile, "utf8"), { keepCase: true });
const service = loader.fromJSON(root.toJSON(), {
  keepCase: true,
  longs: Number,
  enums: String,
  bytes: String,
  defaults: true,
  oneofs: true,
})[serviceName];

const last = new Map();
let breakAfter;
let server;
let port = 0;

function emit(message) {
  process.stdout.write(JSON.stringify(message) + "\n");
}

async function authorized(metadata) {
  const header = String(metadata.get("authorization")[0] ?? "");
  let ok = false;
  if (/^Bearer \S+$/.test(header)) {
    const answer = await fetch(introspectUrl, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: header.slice(7) }),
    });
    ok = (await answer.json()).active === true;
  }
  if (!ok) emit({ unauthenticated: 1 });
  return ok;
}

function create() {
  const s = new grpc.Server();
  s.addService(service, {
    Publish(call, callback) {
      // Frames wait until the token is checked, and are handled in order.
      const queue = [];
      let checked;
      let failed = false;
      let session = "";
      let delivered = 0;
      const handle = (frame) => {
        if (failed) return;
        session = frame.session;
        const stored = last.get(frame.session) ?? 0;
        if (frame.sequence <= stored) emit({ duplicate: frame.sequence });
        else {
          if (frame.sequence !== stored + 1) emit({ gap: frame.sequence });
          last.set(frame.session, frame.sequence);
          emit({ frame });
        }
        delivered++;
        if (breakAfter !== undefined && delivered >= breakAfter) {
          breakAfter = undefined;
          failed = true;
          callback({ code: grpc.status.UNAVAILABLE, details: "injected break" });
        }
      };
      const ready = authorized(call.metadata).then((ok) => {
        checked = ok;
        if (!ok) {
          failed = true;
          callback({ code: grpc.status.UNAUTHENTICATED, details: "invalid token" });
        }
        for (const frame of queue.splice(0)) handle(frame);
      });
      call.on("data", (frame) => (checked === undefined ? queue.push(frame) : handle(frame)));
      call.on("end", () =>
        ready.then(() => {
          if (failed) return;
          emit({ ack: last.get(session) ?? 0 });
          callback(null, { session, last_sequence: last.get(session) ?? 0 });
        }));
    },
    Resume(call, callback) {
      authorized(call.metadata).then((ok) => {
        if (!ok) return callback({ code: grpc.status.UNAUTHENTICATED, details: "invalid token" });
        callback(null, {
          session: call.request.session,
          last_sequence: last.get(call.request.session) ?? 0,
        });
      });
    },
  });
  return s;
}

function bind(wanted) {
  server = create();
  server.bindAsync(`127.0.0.1:${wanted}`, grpc.ServerCredentials.createInsecure(), (error, p) => {
    if (error) {
      emit({ error: String(error) });
      process.exit(1);
    }
    port = p;
    emit({ listening: port });
  });
}

createInterface({ input: process.stdin }).on("line", (line) => {
  const command = JSON.parse(line);
  if (command.breakAfter !== undefined) breakAfter = command.breakAfter;
  if (command.stop) {
    server.forceShutdown();
    emit({ stopped: true });
  }
  if (command.restart) bind(port);
  if (command.exit) {
    server.forceShutdown();
    process.exit(0);
  }
}).on("close", () => {
  server?.forceShutdown();
  process.exit(0);
});

bind(0);
