/**
 * WhatsApp's side of egress. Planning applies the 24-hour window: inside it a reply becomes text messages of
 * at most 4,096 characters (link previews off); outside it the configured approved template is sent once
 * instead, or, without a template, the reply is recorded as not possible — never sent free-form into a
 * 131047. Each accepted message's wamid is recorded in one batch with the send ledger's `sent` record, so status
 * webhooks can be joined to the reply; each send names its send-ledger key (`biz_opaque_callback_data`), so its
 * statuses settle it even when its outcome was never recorded.
 *
 * @module
 */
import type { Client } from "../../store/mod.ts";
import { getContact } from "../channel/contacts.ts";
import type { ChannelTransport } from "../channel/outcome.ts";
import { splitText } from "../channel/split.ts";
import { toGraphOutcome } from "./errors.ts";
import type { GraphClient, GraphMessage } from "./graph.ts";
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

export function createWhatsAppTransport(opts: WhatsAppTransportOptions): ChannelTransport<GraphMessage> {
  const template: GraphMessage | undefined = opts.template && { type: "template", ...opts.template };
  return {
    async plan(reply) {
      const contact = await getContact(opts.client, opts.agent, reply.chatId);
      if (contact?.inactiveAt !== undefined) {
        return { skipped: `contact inactive (${contact.inactiveReason ?? "blocked"})` };
      }
      if (reply.template) {
        return template ? { parts: [template] } : { skipped: "not possible: the template is no longer configured" };
      }
      const window = windowState(contact?.lastInboundAt, opts.now());
      if (window.state !== "open") {
        if (template) return { parts: [template] };
        return {
          skipped: `not possible: the 24-hour window is ${window.state} and no template is configured`,
        };
      }
      const parts = splitText(reply.text, WHATSAPP_TEXT_LIMIT).map((body): GraphMessage => ({
        type: "text",
        body,
      }));
      return parts.length === 0 ? { skipped: "empty reply" } : { parts };
    },
    async send(message, { chatId, key, attempt, signal }) {
      const result = await opts.graph.send(chatId, message, signal, key);
      opts.onGraphResult?.(result.ok ? null : "network" in result ? undefined : result.error?.code);
      if (result.ok) {
        if (result.messageId === undefined) return { kind: "sent" };
        // Committed with the ledger's outcome: one write transaction per send, not two.
        const record = [recordAccepted(opts.agent, result.messageId, chatId, key, opts.now())];
        return { kind: "sent", platformId: result.messageId, record };
      }
      return toGraphOutcome(result, attempt, message.type === "text" ? template : undefined);
    },
  };
}
