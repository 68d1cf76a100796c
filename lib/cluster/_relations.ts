/**
 * The relationships a resource states about itself (subject side): a pod runs on its node,
 * is owned by its controller, mounts its claims and uses ConfigMaps and Secrets by name; an
 * Ingress routes to Services; a claim is bound to its volume. "Service selects pod" depends
 * on both ends and is worked out by the graph, with {@linkcode selectorMatches}.
 *
 * @module
 */
import { arr, type Json, obj, str } from "./_pick.ts";
import { type Resource, resourceKey } from "./resource.ts";

/** What a relationship says. */
export type Predicate =
  | "runs-on"
  | "owned-by"
  | "selects"
  | "routes-to"
  | "mounts"
  | "bound-to"
  | "uses";

/** Every predicate, for validation and documentation. */
export const PREDICATES: readonly Predicate[] = [
  "runs-on",
  "owned-by",
  "selects",
  "routes-to",
  "mounts",
  "bound-to",
  "uses",
];

/** Kinds without a namespace that an owner reference can name (a mirror pod's Node). */
const CLUSTER_SCOPED = new Set(["Node", "Namespace", "PersistentVolume"]);

/** The relationships `resource` states, as `[predicate, object key]` pairs. */
export function statedRelations(resource: Resource): [Predicate, string][] {
  const out: [Predicate, string][] = [];
  const ns = resource.metadata.namespace ?? "";
  for (const owner of resource.metadata.ownerReferences ?? []) {
    out.push([
      "owned-by",
      resourceKey(owner.kind, CLUSTER_SCOPED.has(owner.kind) ? "" : ns, owner.name),
    ]);
  }
  const spec: Json = resource.spec ?? {};
  switch (resource.kind) {
    case "Pod": {
      const node = str(spec.nodeName);
      if (node) out.push(["runs-on", resourceKey("Node", "", node)]);
      for (const claim of arr(spec.persistentVolumeClaims)) {
        out.push(["mounts", resourceKey("PersistentVolumeClaim", ns, String(claim))]);
      }
      for (const name of arr(spec.configMaps)) {
        out.push(["uses", resourceKey("ConfigMap", ns, String(name))]);
      }
      for (const name of arr(spec.secrets)) {
        out.push(["uses", resourceKey("Secret", ns, String(name))]);
      }
      break;
    }
    case "Ingress": {
      const services = new Set<string>();
      const backend = str(obj(spec.defaultBackend)?.name);
      if (backend) services.add(backend);
      for (const rule of arr(spec.rules)) {
        for (const path of arr(obj(rule)?.paths)) {
          const name = str(obj(obj(path)?.backend)?.name);
          if (name) services.add(name);
        }
      }
      for (const name of services) out.push(["routes-to", resourceKey("Service", ns, name)]);
      break;
    }
    case "PersistentVolumeClaim": {
      const volume = str(spec.volumeName);
      if (volume) out.push(["bound-to", resourceKey("PersistentVolume", "", volume)]);
      break;
    }
  }
  return out;
}

/** A Service's selector (a plain label map), or `undefined` when it selects nothing. */
export function serviceSelector(resource: Resource): Record<string, string> | undefined {
  if (resource.kind !== "Service") return undefined;
  const selector = obj(resource.spec?.selector);
  if (!selector) return undefined;
  const entries = Object.entries(selector).filter(([, v]) => typeof v === "string");
  // An empty selector selects nothing (Endpoints are then managed by hand).
  return entries.length === 0 ? undefined : Object.fromEntries(entries) as Record<string, string>;
}

/** Whether `labels` carry every pair of `selector`. */
export function selectorMatches(
  selector: Record<string, string>,
  labels: Record<string, string> | undefined,
): boolean {
  if (!labels) return false;
  for (const key in selector) if (labels[key] !== selector[key]) return false;
  return true;
}
