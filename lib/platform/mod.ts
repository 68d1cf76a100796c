/**
 * The platform side: credentials and the OAuth2 JWT-bearer assertion, the HTTP client with
 * its token cache and retry rules, the token bucket and bounded buffer, the payloads, the
 * transports, and the streamer that sends a snapshot, events and heartbeats.
 *
 * @module
 */
export {
  type CredentialFields,
  credentialsFromSecret,
  credentialsSecretInformerOptions,
  type CredentialsUpdate,
  parseCredentials,
  PlatformCredentials,
  readCredentialsFile,
} from "./credentials.ts";
export { ASSERTION_LIFETIME_S, signAssertion } from "./jwt.ts";
export {
  type Body,
  CredentialsMissing,
  PlatformHttp,
  type PlatformHttpOptions,
  PlatformRejected,
  PlatformUnreachable,
  type RetryOptions,
} from "./http.ts";
export { TokenBucket } from "./limiter.ts";
export { BoundedBuffer } from "./buffer.ts";
export {
  eventOf,
  type Heartbeat,
  type PlatformEvent,
  type SnapshotHeader,
  snapshotStream,
  snapshotText,
} from "./payload.ts";
export { HttpTransport, type PlatformTransport } from "./transport.ts";
export { Streamer, type StreamerHooks, type StreamerOptions } from "./streamer.ts";
export {
  AGENT_CONFIG_API,
  type AgentConfigSpec,
  agentConfigStatus,
  type Condition,
  mergeSettings,
  parseAgentConfigSpec,
  type PlatformSettings,
  type StreamState,
} from "./agent_config.ts";
export { PlatformAgent, type PlatformAgentHooks, type PlatformAgentOptions } from "./agent.ts";
export { GrpcTransport, type GrpcTransportOptions } from "./grpc.ts";
export { STREAM_PROTO, STREAM_SERVICE } from "./_proto.ts";
