/**
 * Parts every channel agent (telegram, whatsapp, webchat) is built from: the ingress commit (channel rows + one
 * atomic bus publish with idempotency keys, 503 + Retry-After when the store cannot commit), the egress handler
 * (send ledger, lease assertion, pacing, in-handler back-off), splitting, pacing, typing, contacts (24 h window,
 * blocked users) and skipped inputs. Other areas need only the spine's group names and the envelopes.
 *
 * @module
 */
export { EGRESS_GROUP, ORCHESTRATOR_GROUP } from "./spine.ts";
export { type ChannelName, createEgressHandler, partKey, SendRetryLaterError } from "./egress.ts";
export { createIngress, type Ingress, type IngressBatch, type IngressResult } from "./ingress.ts";
export type { ChannelTransport, SendOutcome, SendPlan } from "./outcome.ts";
export { type Contact, getContact } from "./contacts.ts";
export { type Command, COMMANDS, parseCommand } from "./commands.ts";
export { splitText } from "./split.ts";
