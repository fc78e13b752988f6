/**
 * Turn classification: simple, complex or high-value, by configurable rules (length, question type, agent role,
 * the lead-qualified flag, conversation stage, keywords). Rules are tried in order; the first whose conditions
 * all hold decides; otherwise the configured default. The class picks the provider chain.
 *
 * @module
 */
import type { ClassifyConfig, ClassifyRule, QuestionType, Tier } from "./config.ts";

/** What the orchestrator knows about a turn when it asks for a reply. */
export interface TurnFacts {
  /** The user's message. */
  text: string;
  /** Name of the agent's role (e.g. "support") and its kind (support, leads, sales). */
  role?: string;
  roleKind?: string;
  /** The lead behind the conversation was qualified: a high-value turn by default. */
  leadQualified?: boolean;
  /** "first" or "ongoing", or for a leads role its lead's stage (TURN_STAGES in config.ts). */
  stage?: string;
}

const COMPARE = /\b(compare|comparison|versus|vs\.?|difference between|better than|which is better)\b/i;
const WHY = /^\s*why\b|\bwhy (is|are|do|does|did|would|should|can't|cannot|isn't|aren't)\b/i;
const HOW = /^\s*how (do|does|can|could|should|would|to)\b|\bhow (do|can) i\b|\bsteps? to\b/i;
const FACTUAL = /^\s*(what|when|where|who|whom|which|whose|how (much|many|long|often|old))\b/i;
const YES_NO =
  /^\s*(is|are|am|do|does|did|can|could|will|would|should|shall|may|might|have|has|had|was|were)\b/i;

/**
 * A coarse question type from the text (English cues; anything else with a "?" is `factual`).
 *
 * @example
 * questionTypeOf("How do I reset my password?") // "how"
 */
export function questionTypeOf(text: string): QuestionType {
  const t = text.trim();
  if (COMPARE.test(t)) return "compare";
  if (WHY.test(t)) return "why";
  if (HOW.test(t)) return "how";
  if (FACTUAL.test(t)) return "factual";
  if (YES_NO.test(t)) return "yes_no";
  return t.includes("?") ? "factual" : "none";
}

function matches(rule: ClassifyRule, turn: TurnFacts, qtype: QuestionType): boolean {
  const len = turn.text.length;
  if (rule.minChars !== undefined && len < rule.minChars) return false;
  if (rule.maxChars !== undefined && len > rule.maxChars) return false;
  if (rule.questionTypes && !rule.questionTypes.includes(qtype)) return false;
  if (rule.roles && !rule.roles.some((r) => r === turn.role || r === turn.roleKind)) return false;
  if (rule.leadQualified !== undefined && (turn.leadQualified ?? false) !== rule.leadQualified) return false;
  const stages: readonly string[] | undefined = rule.stages;
  if (stages && (turn.stage === undefined || !stages.includes(turn.stage))) return false;
  if (rule.keywords) {
    const lower = turn.text.toLowerCase();
    if (!rule.keywords.some((k) => lower.includes(k.toLowerCase()))) return false;
  }
  return true;
}

export interface Classification {
  tier: Tier;
  /** Index of the deciding rule, or -1 for the default. */
  rule: number;
  questionType: QuestionType;
}

/**
 * Classes a turn by the first matching rule.
 *
 * @example
 * classifyTurn({ text: "hi", leadQualified: true }, DEFAULT_CLASSIFY).tier // "high-value"
 */
export function classifyTurn(turn: TurnFacts, config: ClassifyConfig): Classification {
  const questionType = questionTypeOf(turn.text);
  const rule = config.rules.findIndex((r) => matches(r, turn, questionType));
  const found = config.rules[rule];
  return { tier: found ? found.tier : config.default, rule, questionType };
}
