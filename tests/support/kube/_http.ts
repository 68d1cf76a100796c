/**
 * What the emulator's handlers share: API errors as Kubernetes `Status` answers, JSON
 * answers, and reading a request's body and patch type.
 *
 * @module
 */
import { BadRequest, type Json } from "./_match.ts";
import {
  groupList,
  openApiDocument,
  openApiIndex,
  RESOURCES,
  type ResourceType,
} from "./resources.ts";

/** A request the API refuses, answered as a `Status`. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Json,
  ) {
    super(message);
  }

  /** The `Status` answer. */
  answer(): Response {
    return status(this.code, this.reason, this.message, this.details);
  }
}

export const encoder = new TextEncoder();

/** Whether a value is a JSON object. */
export function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** An object's metadata (created when missing). */
export function meta(object: Json): Json {
  if (!isObject(object.metadata)) object.metadata = {};
  return object.metadata as Json;
}

/** A JSON answer. */
export function json(value: unknown, code = 200): Response {
  return new Response(JSON.stringify(value), {
    status: code,
    headers: { "content-type": "application/json" },
  });
}

/** A `Status` answer. */
export function status(code: number, reason: string, message: string, details?: Json): Response {
  return json({
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  }, code);
}

/** The patch a request's content type names. */
export function patchType(request: Request): "json" | "merge" {
  const type = request.headers.get("content-type") ?? "";
  if (type.startsWith("application/json-patch+json")) return "json";
  if (
    type.startsWith("application/merge-patch+json") ||
    type.startsWith("application/strategic-merge-patch+json")
  ) {
    return "merge";
  }
  throw new ApiError(
    415,
    "UnsupportedMediaType",
    `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got ${type})`,
  );
}

/** A request's body as JSON (an object, except for a JSON patch). */
export async function body(
  request: Request,
  kind: "put" | "json" | "merge" = "put",
): Promise<Json> {
  const text = await request.text();
  const value: unknown = JSON.parse(text);
  if (kind === "json") return value as Json;
  if (!isObject(value)) throw new BadRequest("the request body must be a JSON object");
  return value;
}

/** The discovery and OpenAPI answers (`/version`, `/api`, `/apis`, `/openapi/v3…`), if `path` is one. */
export function discoveryAnswer(
  path: string,
  port: number,
  types: ResourceType[] = RESOURCES,
): Response | undefined {
  if (path === "/version") {
    return json({
      major: "1",
      minor: "30",
      gitVersion: "v1.30.0-emulator",
      platform: "linux/amd64",
    });
  }
  if (path === "/api") {
    return json({
      kind: "APIVersions",
      versions: ["v1"],
      serverAddressByClientCIDRs: [{
        clientCIDR: "0.0.0.0/0",
        serverAddress: `127.0.0.1:${port}`,
      }],
    });
  }
  if (path === "/apis") return json(groupList(types));
  if (path === "/openapi/v3") return json(openApiIndex(types));
  const openapi = /^\/openapi\/v3\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))$/.exec(path);
  if (openapi) {
    const document = openApiDocument(openapi[2] ?? "", openapi[1] ?? openapi[3]!, types);
    if (!document) throw new ApiError(404, "NotFound", `no OpenAPI document for ${path}`);
    return json(document);
  }
  return undefined;
}

/** Closes a stream's controller, unless the client cancelled the stream (it is closed then). */
export function closeQuietly(controller: ReadableStreamDefaultController<Uint8Array>): void {
  try {
    controller.close();
  } catch {
    // Cancelled: closed already.
  }
}
