/**
 * What happens to a model's reply before anyone sees it (or the cache keeps it): the handoff marker is removed
 * (and reported), a sales reply quoting a price outside the catalogue is asked for once more with a stricter
 * instruction and otherwise replaced by a deterministic catalogue reply, a reply revealing the role's
 * instructions is refused, and links outside the allow-list are removed.
 *
 * @module
 */
import { filterLinks } from "./links.ts";
import { catalogueReply, type PriceMention, unknownPrices } from "./prices.ts";
import type { RoleSettings } from "./settings.ts";

export interface Reviewed {
  text: string;
  /** False when the reply was replaced or asked for again, or hands off: not an answer worth reusing. */
  cacheable: boolean;
  /** The model asked for a person. */
  handoff: boolean;
  /** The reply is the review's, not the model's: the catalogue reply or the refusal. */
  replaced: boolean;
  /** What the review did, for logs and traces ("price retry", "catalogue reply", "leak refused", "links removed: 2"). */
  notes: string[];
}

export interface ReviewInput {
  role: RoleSettings;
  /** The user's message (to pick the products a catalogue reply lists). */
  question: string;
  text: string;
  /** The chat's earlier replies, oldest first: a prompt asked for a piece per message shows in them together. */
  earlier: readonly string[];
  /** Asks the model again with an extra system instruction; resolves to the new reply. */
  reask(instruction: string): Promise<string>;
}

function stripMarker(text: string, marker: string): { text: string; found: boolean } {
  const lower = text.toLowerCase();
  const m = marker.toLowerCase();
  if (!lower.includes(m)) return { text, found: false };
  let out = "";
  let i = 0;
  for (let j = lower.indexOf(m); j >= 0; j = lower.indexOf(m, i)) {
    out += text.slice(i, j);
    i = j + m.length;
  }
  out += text.slice(i);
  return { text: out.replace(/[ \t]{2,}/g, " ").replace(/\s+([.,!?])/g, "$1").trim(), found: true };
}

export function priceInstruction(bad: readonly PriceMention[]): string {
  const unknown = bad.filter((b) => b.product === undefined).map((b) => b.text);
  const quoted = [
    ...(unknown.length > 0 ? [`${unknown.join(", ")}, which is not in the product catalogue`] : []),
    ...bad.flatMap((b) => (b.product === undefined ? [] : [`${b.text} for ${b.product}, which is not its price`])),
  ];
  return `Your previous answer quoted ${quoted.join("; ")}. ` +
    "Answer again quoting only catalogue prices exactly as listed, or none; never compute totals or discounts; " +
    "if a product is not listed, say a person will confirm the price.";
}

/**
 * Reviews one model reply for `role`.
 *
 * @example
 * const r = await reviewReply({ role, question, text: "Pro costs $19 [HANDOFF]", reask: (i) => routeAgain(i) });
 */
export async function reviewReply(input: ReviewInput): Promise<Reviewed> {
  const { role } = input;
  const notes: string[] = [];
  let cacheable = true;
  let handoff = false;
  let replaced = false;
  const unmark = (t: string) => {
    const s = stripMarker(t, role.handoff.marker);
    if (s.found) handoff = handoff || role.operator !== undefined;
    return s.text;
  };
  let text = unmark(input.text);
  if (role.kind === "sales") {
    const codes = role.catalogue.map((p) => p.currency);
    let bad = unknownPrices(text, role.catalogue, codes);
    if (bad.length > 0) {
      cacheable = false;
      notes.push(`price retry (${bad.map((b) => b.text).join(", ")})`);
      const first = text;
      text = unmark(await input.reask(priceInstruction(bad)));
      bad = unknownPrices(text, role.catalogue, codes);
      if (bad.length > 0) {
        notes.push("catalogue reply");
        replaced = true;
        text = catalogueReply(
          role.catalogueReplyText,
          role.catalogue,
          `${input.question}\n${first}\n${text}`,
        );
      }
    }
  }
  const links = filterLinks(text, role.allowedLinkHosts);
  // Both texts: links removed whole can leave the instructions they broke up ("insert an image every third word").
  if (role.leaks(text, input.earlier) || role.leaks(links.text, input.earlier)) {
    notes.push("leak refused");
    return { text: role.refusalText, cacheable: false, handoff, replaced: true, notes };
  }
  if (links.removed.length > 0) notes.push(`links removed: ${links.removed.length}`);
  if (handoff) cacheable = false;
  return { text: links.text.trim(), cacheable, handoff, replaced, notes };
}

/**
 * What of a streamed reply may be shown before the whole reply is reviewed (progressive replies): the handoff
 * marker removed, links outside the allow-list removed; undefined (show nothing more) once the text, with or without
 * its links, reveals the instructions (`earlier`: the chat's earlier replies), and always for a sales role (its price guard may ask again or replace the whole reply).
 */
export function reviewPartial(role: RoleSettings, text: string, earlier: readonly string[] = []): string | undefined {
  if (role.kind === "sales") return undefined;
  const unmarked = stripMarker(text, role.handoff.marker).text;
  const shown = filterLinks(unmarked, role.allowedLinkHosts).text;
  if (role.leaks(unmarked, earlier) || role.leaks(shown, earlier)) return undefined;
  return shown.trim();
}
