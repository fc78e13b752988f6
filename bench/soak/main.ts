// `npm run soak -- [--messages N] [--chats N] [--seconds S] [--seed N] [--no-chaos] [--llama] [--crash-delay-ms MS]
//   [--drain-timeout S] [--dir DIR] [--out PATH]`: the chaos soak (bench/soak/soak.ts). Defaults: 10,000 messages,
// 200 chats, 300 s of injection, kill -9 every 5–30 s, SIGTERM recycles every 10–40 s, provider failure bursts.
// Prints the checker's counts, writes them as JSON, exits 1 when a guarantee
// failed (lost, user-visible duplicates, order, integrity, foreign keys, dead letters without a reason, wrong
// answers, messages not acknowledged or still pending when the drain ended), nothing was injected, or a kind of
// mid-send kill of a WhatsApp agent (before Graph got the send, after) never happened; exits 2 on a bad option.
// The JSON goes to DIR/soak.json (default .cache/soak/soak.json) unless --out says otherwise.
import { mkdir, rm, writeFile } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import { resolve } from "node:path";
import process from "node:process";
import { parseSoakArgs } from "./args.ts";
import { failures, formatMidSend, formatReport, runSoak } from "./soak.ts";

const args = parseSoakArgs(process.argv.slice(2));
if ("error" in args) {
  console.error(`soak: ${args.error}`);
  process.exit(2);
}
const dir = resolve(args.dir ?? ".cache/soak");
await rm(dir, { recursive: true, force: true });
await mkdir(dir, { recursive: true });
const { messages, chats, seconds, seed, chaos, llama, crashDelayMs, drainTimeoutS } = args;
const opts = { dir, messages, chats, seconds, seed, chaos, llama, crashDelayMs, drainTimeoutS };
const started = new Date();
console.log(`soak on ${cpus().length} × ${cpus()[0]?.model}, deno ${process.versions["deno"]}, load ${loadavg().map((l) => l.toFixed(2)).join(" ")}, ${started.toISOString()}`);
const result = await runSoak({ ...opts, log: (l) => console.log(l) });
console.log(`\n${formatReport(result)}`);
const c = result.report;
const failed = failures(result);
const ok = failed.length === 0;
const out = args.out ?? `${dir}/soak.json`;
await writeFile(out, `${JSON.stringify({ suite: "soak", date: started.toISOString(), options: opts, ok, failures: failed, report: c, chaos: result.chaos, starts: result.starts, injectSeconds: result.injectSeconds, drainSeconds: result.drainSeconds, drained: result.drained, midSendKills: result.midSendKills ?? null }, null, 2)}\n`);
console.log(`\n${ok ? "OK" : `FAILED (${failed.join("; ")})`}: lost ${c.lost}, user-visible duplicates ${c.userVisibleDuplicates}, order violations ${c.orderViolations}, wrong answers ${c.wrongAnswer}, not acknowledged ${c.notAcknowledged}, pending at end ${c.pendingAtEnd}${result.drained ? "" : " (drain timed out)"}, integrity ${c.integrityCheck}, foreign-key violations ${c.foreignKeyViolations}, dead letters without reason ${c.deadLettersWithoutReason}, WhatsApp agents killed mid-send ${formatMidSend(result.midSendKills)}\nwrote ${out}; agent logs in ${result.logDir}`);
process.exit(ok ? 0 : 1);
