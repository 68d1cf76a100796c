/**
 * The kinds the Kubernetes API emulator serves, as discovery advertises them.
 *
 * @module
 */

/** One resource type. */
export interface ResourceType {
  group: string;
  version: string;
  kind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames?: string[];
  /** Subresources served besides the object itself. */
  subresources?: string[];
  /** A custom resource's `openAPIV3Schema`: its objects are validated, pruned and defaulted. */
  schema?: Record<string, unknown>;
  /** A custom resource's `additionalPrinterColumns`, for `kubectl get`. */
  printerColumns?: Record<string, unknown>[];
}

const VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

/** Every resource type served. */
export const RESOURCES: ResourceType[] = [
  {
    group: "",
    version: "v1",
    kind: "Pod",
    plural: "pods",
    singular: "pod",
    namespaced: true,
    shortNames: ["po"],
    subresources: ["status", "log"],
  },
  {
    group: "",
    version: "v1",
    kind: "Secret",
    plural: "secrets",
    singular: "secret",
    namespaced: true,
  },
  {
    group: "",
    version: "v1",
    kind: "ConfigMap",
    plural: "configmaps",
    singular: "configmap",
    namespaced: true,
    shortNames: ["cm"],
  },
  {
    group: "",
    version: "v1",
    kind: "Event",
    plural: "events",
    singular: "event",
    namespaced: true,
    shortNames: ["ev"],
  },
  {
    group: "",
    version: "v1",
    kind: "Service",
    plural: "services",
    singular: "service",
    namespaced: true,
    shortNames: ["svc"],
  },
  {
    group: "",
    version: "v1",
    kind: "ServiceAccount",
    plural: "serviceaccounts",
    singular: "serviceaccount",
    namespaced: true,
    shortNames: ["sa"],
  },
  {
    group: "",
    version: "v1",
    kind: "PersistentVolumeClaim",
    plural: "persistentvolumeclaims",
    singular: "persistentvolumeclaim",
    namespaced: true,
    shortNames: ["pvc"],
  },
  {
    group: "",
    version: "v1",
    kind: "Namespace",
    plural: "namespaces",
    singular: "namespace",
    namespaced: false,
    shortNames: ["ns"],
  },
  {
    group: "",
    version: "v1",
    kind: "Node",
    plural: "nodes",
    singular: "node",
    namespaced: false,
    shortNames: ["no"],
  },
  {
    group: "apps",
    version: "v1",
    kind: "Deployment",
    plural: "deployments",
    singular: "deployment",
    namespaced: true,
    shortNames: ["deploy"],
  },
  {
    group: "apps",
    version: "v1",
    kind: "StatefulSet",
    plural: "statefulsets",
    singular: "statefulset",
    namespaced: true,
    shortNames: ["sts"],
  },
  {
    group: "apps",
    version: "v1",
    kind: "DaemonSet",
    plural: "daemonsets",
    singular: "daemonset",
    namespaced: true,
    shortNames: ["ds"],
  },
  {
    group: "apps",
    version: "v1",
    kind: "ReplicaSet",
    plural: "replicasets",
    singular: "replicaset",
    namespaced: true,
    shortNames: ["rs"],
  },
  {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    kind: "ClusterRole",
    plural: "clusterroles",
    singular: "clusterrole",
    namespaced: false,
  },
  {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    kind: "ClusterRoleBinding",
    plural: "clusterrolebindings",
    singular: "clusterrolebinding",
    namespaced: false,
  },
  {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    kind: "Role",
    plural: "roles",
    singular: "role",
    namespaced: true,
  },
  {
    group: "rbac.authorization.k8s.io",
    version: "v1",
    kind: "RoleBinding",
    plural: "rolebindings",
    singular: "rolebinding",
    namespaced: true,
  },
  {
    group: "policy",
    version: "v1",
    kind: "PodDisruptionBudget",
    plural: "poddisruptionbudgets",
    singular: "poddisruptionbudget",
    namespaced: true,
    shortNames: ["pdb"],
  },
  {
    group: "milvus.io",
    version: "v1beta1",
    kind: "Milvus",
    plural: "milvuses",
    singular: "milvus",
    namespaced: true,
    shortNames: ["mi"],
  },
  // The kinds of the resource graph, and the Lease of leader election.
  {
    group: "",
    version: "v1",
    kind: "PersistentVolume",
    plural: "persistentvolumes",
    singular: "persistentvolume",
    namespaced: false,
    shortNames: ["pv"],
  },
  {
    group: "batch",
    version: "v1",
    kind: "Job",
    plural: "jobs",
    singular: "job",
    namespaced: true,
    subresources: ["status"],
  },
  {
    group: "batch",
    version: "v1",
    kind: "CronJob",
    plural: "cronjobs",
    singular: "cronjob",
    namespaced: true,
    shortNames: ["cj"],
    subresources: ["status"],
  },
  {
    group: "networking.k8s.io",
    version: "v1",
    kind: "Ingress",
    plural: "ingresses",
    singular: "ingress",
    namespaced: true,
    shortNames: ["ing"],
    subresources: ["status"],
  },
  {
    group: "networking.k8s.io",
    version: "v1",
    kind: "NetworkPolicy",
    plural: "networkpolicies",
    singular: "networkpolicy",
    namespaced: true,
    shortNames: ["netpol"],
  },
  {
    group: "coordination.k8s.io",
    version: "v1",
    kind: "Lease",
    plural: "leases",
    singular: "lease",
    namespaced: true,
  },
  // Storing one makes the emulator serve its kind (see _crd.ts).
  {
    group: "apiextensions.k8s.io",
    version: "v1",
    kind: "CustomResourceDefinition",
    plural: "customresourcedefinitions",
    singular: "customresourcedefinition",
    namespaced: false,
    shortNames: ["crd", "crds"],
    subresources: ["status"],
  },
];

/** The `apiVersion` of a resource type: `v1` or `group/version`. */
export function apiVersionOf(type: ResourceType): string {
  return type.group ? `${type.group}/${type.version}` : type.version;
}

/** Discovery's APIResourceList for one group/version. */
export function resourceList(
  group: string,
  version: string,
  all: ResourceType[] = RESOURCES,
): Record<string, unknown> | undefined {
  const types = all.filter((r) => r.group === group && r.version === version);
  if (types.length === 0) return undefined;
  const resources = types.flatMap((type) => [
    {
      name: type.plural,
      singularName: type.singular,
      namespaced: type.namespaced,
      kind: type.kind,
      verbs: VERBS,
      ...(type.shortNames ? { shortNames: type.shortNames } : {}),
    },
    ...(type.subresources ?? []).map((sub) => ({
      name: `${type.plural}/${sub}`,
      singularName: "",
      namespaced: type.namespaced,
      kind: sub === "log" ? "Pod" : type.kind,
      verbs: sub === "log" ? ["get"] : ["get", "patch", "update"],
    })),
  ]);
  return {
    kind: "APIResourceList",
    apiVersion: "v1",
    groupVersion: apiVersionOf(types[0]!),
    resources,
  };
}

/** Discovery's APIGroupList for `/apis`. */
export function groupList(all: ResourceType[] = RESOURCES): Record<string, unknown> {
  const groups = [
    ...new Set(all.filter((r) => r.group).map((r) => `${r.group}/${r.version}`)),
  ].map((gv) => {
    const [name, version] = gv.split("/") as [string, string];
    const preferred = { groupVersion: gv, version };
    return { name, versions: [preferred], preferredVersion: preferred };
  });
  return { kind: "APIGroupList", apiVersion: "v1", groups };
}

/**
 * `/openapi/v3`: one entry per group/version. kubectl reads it to learn that the server
 * validates fields itself (the `fieldValidation` parameter), and then skips client-side
 * validation against a full schema.
 */
export function openApiIndex(all: ResourceType[] = RESOURCES): Record<string, unknown> {
  const paths: Record<string, unknown> = {};
  for (const type of all) {
    const gv = type.group ? `apis/${type.group}/${type.version}` : `api/${type.version}`;
    paths[gv] = { serverRelativeURL: `/openapi/v3/${gv}?hash=emulator` };
  }
  return { paths };
}

/** `/openapi/v3/api/v1` and `/openapi/v3/apis/GROUP/VERSION`: the patch operation of every kind. */
export function openApiDocument(
  group: string,
  version: string,
  all: ResourceType[] = RESOURCES,
): Record<string, unknown> | undefined {
  const types = all.filter((r) => r.group === group && r.version === version);
  if (types.length === 0) return undefined;
  const paths: Record<string, unknown> = {};
  for (const type of types) {
    const prefix = type.group ? `/apis/${type.group}/${type.version}` : `/api/${type.version}`;
    const scope = type.namespaced ? "/namespaces/{namespace}" : "";
    paths[`${prefix}${scope}/${type.plural}/{name}`] = {
      patch: {
        operationId: `patch${type.kind}`,
        "x-kubernetes-action": "patch",
        "x-kubernetes-group-version-kind": {
          group: type.group,
          version: type.version,
          kind: type.kind,
        },
        parameters: [
          { name: "dryRun", in: "query", schema: { type: "string" } },
          { name: "fieldManager", in: "query", schema: { type: "string" } },
          { name: "fieldValidation", in: "query", schema: { type: "string" } },
        ],
        responses: { "200": { description: "OK" } },
      },
    };
  }
  return {
    openapi: "3.0.0",
    info: { title: "Kubernetes", version: "v1.30.0-emulator" },
    paths,
    components: {},
  };
}
