/**
 * WhatsApp's side of egress. Planning applies the 24-hour window: inside it a reply becomes text messages of
 * at most 4,096 characters (link previews off); outside it (or when Meta refused a reply with 131047 after accepting
 * it) the configured approved template is sent instead, once per closed window, or, without a template, the reply
 * is recorded as not possible — never sent free-form into a 131047. A resend (resend.ts) is the failed part's text.
 * Each accepted message's wamid is recorded in one batch with the send ledger's `sent` record, so status webhooks
 * can be joined to the reply; each send names its send-ledger key (`biz_opaque_callback_data`), so its statuses
 * settle it even when its outcome was never recorded.
 *
 * @module
 */
import type { Client } from "../../store/mod.ts";
import { type Contact, getContact, recordTemplate } from "../channel/contacts.ts";
import type { ChannelTransport } from "../channel/outcome.ts";
import { splitText } from "../channel/split.ts";
import { toGraphOutcome } from "./errors.ts";
import type { GraphClient, GraphMessage } from "./graph.ts";
import { resendSource } from "./resend.ts";
import { recordAccepted } from "./statuses.ts";
import { windowState } from "./window.ts";

export const WHATSAPP_TEXT_LIMIT = 4096;

export interface WhatsAppTransportOptions {
  graph: GraphClient;
  client: Client;
  agent: string;
  now: () => number;
  template: { name: string; language: string } | undefined;
  /** Called after each send with the Graph error code (undefined: network error), or null when it was accepted. */
  onGraphResult?(code: number | null | undefined): void;
}

/**
 * Our clock's sending time against Meta's time of the user's message (whole seconds): a template sent within this
 * of the user's last message is not counted as after it (a user does not answer a template that fast).
 */
const CLOCKS_MS = 5_000;

/** True when the approved template was sent to the contact since it last wrote (once per closed window). */
function templateSent(contact: Contact | undefined): boolean {
  return contact?.templateAt !== undefined && contact.templateAt > (contact.lastInboundAt ?? 0) + CLOCKS_MS;
}

export function createWhatsAppTransport(opts: WhatsAppTransportOptions): ChannelTransport<GraphMessage> {
  const template: GraphMessage | undefined = opts.template && { type: "template", ...opts.template };
  return {
    async plan(reply) {
      const contact = await getContact(opts.client, opts.agent, reply.chatId);
      if (contact?.inactiveAt !== undefined) {
        return { skipped: `contact inactive (${contact.inactiveReason ?? "blocked"})` };
      }
      const lastInboundAt = contact?.lastInboundAt;
      const window = windowState(lastInboundAt, opts.now());
      // Only the template reaches the user now (Meta refused the text, or the window is closed): once per closed
      // window, since all it does is ask the user to write again.
      if (reply.template || window.state !== "open") {
        if (!template) {
          const state = reply.template ? "closed at Meta" : window.state;
          return { skipped: `not possible: the 24-hour window is ${state} and no template is configured` };
        }
        if (reply.template && (lastInboundAt ?? 0) > reply.template.refusedAt) {
          return { skipped: "not needed: the user wrote again after Meta refused the reply" };
        }
        if (templateSent(contact)) {
          return { skipped: "the template was sent already since the user last wrote" };
        }
        return { parts: [template] };
      }
      if (reply.resend) {
        const source = await resendSource(opts.client, opts.agent, { ...reply, resend: reply.resend });
        if ("skipped" in source) return source;
        const body = splitText(source.text, WHATSAPP_TEXT_LIMIT)[source.index];
        return body === undefined ? { skipped: "not sent again: the reply has no such part" } : {
          parts: [{ type: "text", body }],
        };
      }
      const parts = splitText(reply.text, WHATSAPP_TEXT_LIMIT).map((body): GraphMessage => ({
        type: "text",
        body,
      }));
      return parts.length === 0 ? { skipped: "empty reply" } : { parts };
    },
    settledRecord: (message, chatId, platformId) =>
      message.type === "template" ? [recordTemplate(opts.agent, chatId, opts.now(), platformId)] : [],
    async send(message, { chatId, key, attempt, signal }) {
      const result = await opts.graph.send(chatId, message, signal, key);
      opts.onGraphResult?.(result.ok ? null : "network" in result ? undefined : result.error?.code);
      if (result.ok) {
        if (result.messageId === undefined) return { kind: "sent" };
        // Committed with the ledger's outcome: one write transaction per send, not two.
        const record = [recordAccepted(opts.agent, result.messageId, chatId, key, opts.now())];
        if (message.type === "template") record.push(recordTemplate(opts.agent, chatId, opts.now(), result.messageId));
        return { kind: "sent", platformId: result.messageId, record };
      }
      // Meta refused the text (131047): the template instead, unless this window had it already.
      const refused = message.type === "text" && !("network" in result) && result.error?.code === 131047;
      const instead = refused && template && !templateSent(await getContact(opts.client, opts.agent, chatId));
      return toGraphOutcome(result, attempt, instead ? template : undefined);
    },
  };
}
