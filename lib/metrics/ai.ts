/**
 * The AI stage's metric families: requests by outcome, tokens, cost, explanations by status,
 * skips by reason, the month's spend against its limit, the cores waiting.
 *
 * @module
 */
import { Counter, Gauge, Histogram, type Registry } from "./_prom_client.ts";

/** The AI stage's families. */
export interface AiMetrics {
  requests: Counter<"outcome">;
  requestSeconds: Histogram;
  tokens: Counter<"direction">;
  cost: Counter;
  explanations: Counter<"status">;
  skips: Counter<"reason">;
  monthCost: Gauge;
  monthLimit: Gauge;
  queued: Gauge;
}

/** Request outcomes, exposed at 0 from the start. */
const OUTCOMES = [
  "ok",
  "rate_limited",
  "server_error",
  "timeout",
  "network",
  "refused",
  "bad_request",
  "bad_answer",
];

/**
 * Creates the families in `registry`, every known label value at 0.
 *
 * @example Usage
 * ```ts ignore
 * const ai = createAiMetrics(metrics.registry, ["hourly_limit"]);
 * ai.skips.inc({ reason: "hourly_limit" });
 * ```
 */
export function createAiMetrics(registry: Registry, skipReasons: readonly string[]): AiMetrics {
  const registers = [registry];
  const metrics: AiMetrics = {
    requests: new Counter({
      name: "agent_ai_requests_total",
      help:
        "Requests sent to the model API, by outcome (ok, rate_limited, server_error, timeout, network, refused, bad_request, bad_answer).",
      labelNames: ["outcome"] as const,
      registers,
    }),
    requestSeconds: new Histogram({
      name: "agent_ai_request_duration_seconds",
      help: "Time from sending a request to the model API to its whole answer.",
      buckets: [0.5, 1, 2.5, 5, 10, 20, 30, 60, 120],
      registers,
    }),
    tokens: new Counter({
      name: "agent_ai_tokens_total",
      help: "Tokens the model API counted, by direction (input, output).",
      labelNames: ["direction"] as const,
      registers,
    }),
    cost: new Counter({
      name: "agent_ai_cost_total",
      help: "What the requests cost, in the currency of ai.prices, from the provider's usage.",
      registers,
    }),
    explanations: new Counter({
      name: "agent_ai_explanations_total",
      help:
        "Stored cores through the AI stage, by status (explained, cached: the crash group's earlier answer, skipped, failed).",
      labelNames: ["status"] as const,
      registers,
    }),
    skips: new Counter({
      name: "agent_ai_skips_total",
      help: "Cores not explained because of a limit, by reason.",
      labelNames: ["reason"] as const,
      registers,
    }),
    monthCost: new Gauge({
      name: "agent_ai_month_cost",
      help: "This month's spend on the model API (every process sharing the state directory).",
      registers,
    }),
    monthLimit: new Gauge({
      name: "agent_ai_month_cost_limit",
      help: "ai.maxCostPerMonth.",
      registers,
    }),
    queued: new Gauge({
      name: "agent_ai_cores_queued",
      help: "Stored cores waiting for the AI stage.",
      registers,
    }),
  };
  for (const outcome of OUTCOMES) metrics.requests.inc({ outcome }, 0);
  for (const direction of ["input", "output"]) metrics.tokens.inc({ direction }, 0);
  for (const status of ["explained", "cached", "skipped", "failed"]) {
    metrics.explanations.inc({ status }, 0);
  }
  for (const reason of skipReasons) metrics.skips.inc({ reason }, 0);
  return metrics;
}
