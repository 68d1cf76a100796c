/**
 * The part of CRI `runtime.v1` (kubernetes/cri-api `pkg/apis/runtime/v1/api.proto`) the agent
 * speaks, as proto text: embedded rather than read from the source tree, so the module
 * survives `deno compile`. Field numbers are the upstream ones; fields left out are skipped
 * when decoding, so a newer runtime's answers still parse. The test support composes its
 * fixture service (RunPodSandbox...) from {@linkcode CRI_PROTO_HEADER} and
 * {@linkcode CRI_MESSAGES}, so the messages are written once.
 *
 * @module
 */

/** The proto file's header: syntax and package. */
export const CRI_PROTO_HEADER = `syntax = "proto3";
package runtime.v1;
`;

/**
 * The messages of the calls the agent makes (Version, ListPodSandbox, PodSandboxStatus,
 * ListContainers, ListImages).
 */
export const CRI_MESSAGES = `
message VersionRequest {
  string version = 1;
}

message VersionResponse {
  string version = 1;
  string runtime_name = 2;
  string runtime_version = 3;
  string runtime_api_version = 4;
}

message PodSandboxMetadata {
  string name = 1;
  string uid = 2;
  string namespace = 3;
  uint32 attempt = 4;
}

enum PodSandboxState {
  SANDBOX_READY = 0;
  SANDBOX_NOTREADY = 1;
}

message PodSandboxStateValue {
  PodSandboxState state = 1;
}

message PodSandboxFilter {
  string id = 1;
  PodSandboxStateValue state = 2;
  map<string, string> label_selector = 3;
}

message ListPodSandboxRequest {
  PodSandboxFilter filter = 1;
}

message PodSandbox {
  string id = 1;
  PodSandboxMetadata metadata = 2;
  PodSandboxState state = 3;
  int64 created_at = 4;
  map<string, string> labels = 5;
  map<string, string> annotations = 6;
  string runtime_handler = 7;
}

message ListPodSandboxResponse {
  repeated PodSandbox items = 1;
}

message PodSandboxStatusRequest {
  string pod_sandbox_id = 1;
  bool verbose = 2;
}

message PodIP {
  string ip = 1;
}

message PodSandboxNetworkStatus {
  string ip = 1;
  repeated PodIP additional_ips = 2;
}

message PodSandboxStatus {
  string id = 1;
  PodSandboxMetadata metadata = 2;
  PodSandboxState state = 3;
  int64 created_at = 4;
  PodSandboxNetworkStatus network = 5;
  map<string, string> labels = 7;
  map<string, string> annotations = 8;
  string runtime_handler = 9;
}

message PodSandboxStatusResponse {
  PodSandboxStatus status = 1;
  map<string, string> info = 2;
  int64 timestamp = 4;
}

message ContainerMetadata {
  string name = 1;
  uint32 attempt = 2;
}

message ImageSpec {
  string image = 1;
  map<string, string> annotations = 2;
  string user_specified_image = 18;
  string runtime_handler = 19;
}

enum ContainerState {
  CONTAINER_CREATED = 0;
  CONTAINER_RUNNING = 1;
  CONTAINER_EXITED = 2;
  CONTAINER_UNKNOWN = 3;
}

message ContainerStateValue {
  ContainerState state = 1;
}

message ContainerFilter {
  string id = 1;
  ContainerStateValue state = 2;
  string pod_sandbox_id = 3;
  map<string, string> label_selector = 4;
}

message ListContainersRequest {
  ContainerFilter filter = 1;
}

message Container {
  string id = 1;
  string pod_sandbox_id = 2;
  ContainerMetadata metadata = 3;
  ImageSpec image = 4;
  string image_ref = 5;
  ContainerState state = 6;
  int64 created_at = 7;
  map<string, string> labels = 8;
  map<string, string> annotations = 9;
}

message ListContainersResponse {
  repeated Container containers = 1;
}

message ImageFilter {
  ImageSpec image = 1;
}

message ListImagesRequest {
  ImageFilter filter = 1;
}

message Image {
  string id = 1;
  repeated string repo_tags = 2;
  repeated string repo_digests = 3;
}

message ListImagesResponse {
  repeated Image images = 1;
}
`;

/** The proto the agent's client loads: its calls and their messages. */
export const CRI_PROTO = `${CRI_PROTO_HEADER}
service RuntimeService {
  rpc Version(VersionRequest) returns (VersionResponse) {}
  rpc ListPodSandbox(ListPodSandboxRequest) returns (ListPodSandboxResponse) {}
  rpc PodSandboxStatus(PodSandboxStatusRequest) returns (PodSandboxStatusResponse) {}
  rpc ListContainers(ListContainersRequest) returns (ListContainersResponse) {}
}

service ImageService {
  rpc ListImages(ListImagesRequest) returns (ListImagesResponse) {}
}
${CRI_MESSAGES}`;

/** The fully qualified name of the runtime service in {@linkcode CRI_PROTO}. */
export const CRI_SERVICE = "runtime.v1.RuntimeService";

/**
 * The fully qualified name of the image service in {@linkcode CRI_PROTO}: containerd and
 * CRI-O serve both on the runtime's socket.
 */
export const CRI_IMAGE_SERVICE = "runtime.v1.ImageService";

/**
 * How proto-loader turns messages into objects, for this client and for test servers that
 * serve {@linkcode CRI_PROTO}: camelCase fields, int64 as decimal strings, enums by name,
 * absent fields as their defaults.
 */
export const CRI_LOADER_OPTIONS = {
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
} as const;
