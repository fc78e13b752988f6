/**
 * The `whatsapp` agent kind: one WhatsApp Business phone number on the Cloud API per configured agent. See
 * agent.ts for the wiring, webhook.ts and classify.ts for ingress, send.ts, window.ts and errors.ts for egress.
 *
 * @module
 */
import { defineAgent } from "../define.ts";
import { createWhatsAppAgent } from "./agent.ts";

export { createWhatsAppAgent, type WhatsAppAgentConfig, type WhatsAppAgentOptions } from "./agent.ts";

export const whatsapp = defineAgent({
  kind: "whatsapp",
  summary: "WhatsApp Cloud API: signed webhooks in, replies within the 24-hour window out",
  create: (deps, agent) => createWhatsAppAgent(deps, agent),
});
