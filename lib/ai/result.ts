/**
 * The explanation a model must answer with, validated by zod: summary, rootCause, impact,
 * recommendations, confidence (0-1), codeSuggestions and relatedIssues. The JSON is taken
 * out of the answer's text (a model may wrap it in Markdown fences or a sentence); whatever
 * does not validate is refused with a reason the model can act on when asked again.
 *
 * @module
 */
import { z } from "zod";

const text = (max: number) => z.string().trim().min(1).max(max);

/** The schema of an explanation. */
export const aiResultSchema = z.object({
  summary: text(2000),
  rootCause: text(4000),
  impact: text(2000),
  recommendations: z.array(text(1000)).max(12),
  confidence: z.number().min(0).max(1),
  codeSuggestions: z.array(z.object({
    file: text(400),
    line: z.number().int().min(0).nullish().transform((line) => line ?? null),
    suggestion: text(2000),
  })).max(10),
  relatedIssues: z.array(text(400)).max(10),
});

/** A model's explanation of a crash. Field names are part of the JSON contract. */
export type AiResult = z.output<typeof aiResultSchema>;

/** A parsed answer: the explanation, or why it is refused. */
export type ParsedAnswer = { ok: true; result: AiResult } | { ok: false; error: string };

/** Problems named in a refusal, at most. */
const MAX_PROBLEMS = 5;

/**
 * The JSON object in an answer: the whole text, else the inside of a Markdown fence, else
 * from the first `{` to the last `}`.
 */
function jsonText(answer: string): string {
  const trimmed = answer.trim();
  if (trimmed.startsWith("{")) return trimmed;
  const fenced = /```(?:json)?\s*\n([\s\S]*?)\n?```/i.exec(trimmed);
  if (fenced) return fenced[1]!.trim();
  const start = trimmed.indexOf("{");
  const end = trimmed.lastIndexOf("}");
  return start >= 0 && end > start ? trimmed.slice(start, end + 1) : trimmed;
}

/**
 * Parses and validates a model's answer.
 *
 * @example Usage
 * ```ts
 * parseAnswer("not json").ok; // false
 * ```
 */
export function parseAnswer(answer: string): ParsedAnswer {
  let value: unknown;
  try {
    value = JSON.parse(jsonText(answer));
  } catch (error) {
    const reason = error instanceof SyntaxError ? error.message : String(error);
    return {
      ok: false,
      error: answer.trim() === ""
        ? "the answer was empty"
        : `the answer is not one JSON object (${reason.split("\n")[0]})`,
    };
  }
  const parsed = aiResultSchema.safeParse(value);
  if (parsed.success) return { ok: true, result: parsed.data };
  const problems = parsed.error.issues.slice(0, MAX_PROBLEMS).map((issue) =>
    `${issue.path.length > 0 ? issue.path.join(".") : "(the answer)"}: ${issue.message}`
  );
  const more = parsed.error.issues.length - problems.length;
  return {
    ok: false,
    error: `the JSON does not match the schema: ${problems.join("; ")}${
      more > 0 ? `; ${more} more` : ""
    }`,
  };
}

/**
 * An explanation in one line, for a Kubernetes Event or a log: the summary and the
 * confidence.
 *
 * @example Usage
 * ```ts ignore
 * summaryLine(result); // "AI (confidence 0.8): A null pointer was read in deref()."
 * ```
 */
export function summaryLine(result: AiResult): string {
  return `AI (confidence ${result.confidence}): ${result.summary.replace(/\s+/g, " ").trim()}`;
}
