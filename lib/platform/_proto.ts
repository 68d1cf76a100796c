/**
 * The platform's streaming service, as proto text: embedded rather than read from the
 * source tree, so the module survives `deno compile`. The platform implements it; the agent
 * is its client (`grpc.ts`), and the test platform its server.
 *
 * @module
 */

/** The service's full name. */
export const STREAM_SERVICE = "agent.platform.v1.AgentStream";

/** The proto file. */
export const STREAM_PROTO = `syntax = "proto3";
package agent.platform.v1;

// The agent's stream to the platform. Publish is client streaming: the agent writes frames
// and ends the stream from time to time (every minute, or sooner when many frames wait);
// the platform answers with the last sequence it stored. After a broken stream the agent
// asks Resume where its session left off and sends the frames after it: nothing is lost
// and nothing sent twice. Calls carry "authorization: Bearer TOKEN" from POST /oauth/token.
service AgentStream {
  rpc Publish(stream Frame) returns (Ack);
  rpc Resume(ResumeRequest) returns (Ack);
}

message Frame {
  // New for each agent's leadership term; sequence counts its frames from 1.
  string session = 1;
  uint64 sequence = 2;
  string cluster_uid = 3;
  oneof body {
    SnapshotChunk snapshot = 4;
    EventBatch events = 5;
    Heartbeat heartbeat = 6;
  }
}

// A piece of the snapshot document (the JSON of POST /api/v1/agent/snapshot): the pieces of
// one snapshot_id, concatenated in index order, are the document.
message SnapshotChunk {
  string snapshot_id = 1;
  uint32 index = 2;
  bool last = 3;
  bytes json = 4;
}

// Up to 100 changes, or those of one second.
message EventBatch {
  repeated Event events = 1;
}

message Event {
  string type = 1;       // ADDED, UPDATED, DELETED
  string kind = 2;       // a watched kind, or Relationship
  string uid = 3;
  string name = 4;
  string namespace = 5;
  bytes object_json = 6; // the resource (or relationship) as JSON
}

message Heartbeat {
  string cluster_name = 1;
  string agent_version = 2;
  string sent_at = 3;
  map<string, int64> resource_counts = 4;
  uint32 buffered = 5;
  string last_snapshot_at = 6;
}

message ResumeRequest {
  string session = 1;
}

message Ack {
  string session = 1;
  uint64 last_sequence = 2;
}
`;

/** How proto-loader turns messages into objects (the client's and the test server's). */
export const STREAM_LOADER_OPTIONS = {
  keepCase: true,
  longs: Number,
  enums: String,
  bytes: Uint8Array,
  defaults: true,
  oneofs: true,
} as const;
