import { createSqliteBus } from "../../bus/mod.ts";
import type { Config } from "../../config.ts";
import { createLogger } from "../../log.ts";
import {
  checkHealth,
  createRestartLog,
  createSystemctl,
  exitCodeOf,
  formatReport,
  heal,
  type HealAction,
  redactReport,
  saveReport,
} from "../../ops/mod.ts";
import { secretValues } from "../../config.ts";
import { createRedactor } from "../../redact.ts";
import { filePathOf, openStore, type Store, storeErrorText } from "../../store/mod.ts";
import { defineCommand } from "../command.ts";
import { readConfig, storeTargetOf } from "../context.ts";

/**
 * The store, or why it cannot be used. The error text is redacted: a libSQL server or a proxy in front of it may
 * quote the request's Authorization header, and the text goes into the printed report and the log.
 */
async function openForHealth(
  config: Config,
  target: { url: string; authToken?: string },
  redact: (text: string) => string,
): Promise<Store | { error: string }> {
  let store: Store;
  try {
    // A libSQL server that hangs must not hold the check for the store's 60 s per request.
    const remoteTimeoutMs = config.ops.health.timeoutMs;
    store = await openStore({ ...target, create: false, remoteTimeoutMs });
  } catch (err) {
    // A local file's error names the path and the fix (no database yet: `aideazz migrate`).
    return { error: redact(`cannot open: ${storeErrorText(err, true)}`) };
  }
  // Never migrated here: the timer runs a newly installed binary every minute, before the operator's rolling
  // restart, and only `aideazz migrate` and the agents change the schema.
  try {
    const rs = await store.client.execute(
      "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name IN ('restarts', 'health_last')",
    );
    if (Number(rs.rows[0]?.["n"]) < 2) {
      store.close();
      return { error: "no schema yet (no restarts or health_last table): run `aideazz migrate`" };
    }
  } catch (err) {
    store.close();
    return { error: redact(`cannot read (${storeErrorText(err, filePathOf(target.url) === undefined)})`) };
  }
  return store;
}

export const healthCommand = defineCommand({
  name: "health",
  summary: "check agents, the llama.cpp sidecar, store and bus; exit 0 ok, 1 degraded, 2 down",
  options: { json: { type: "boolean" }, restart: { type: "boolean" } },
  optionHelp: [
    "--json          print the report as JSON",
    "--restart       restart down agents through systemctl (back-off, hourly ceiling; recorded) and recycle one old agent",
  ],
  async run({ values, deps }) {
    const loaded = await readConfig(values, deps, []);
    const { config } = loaded;
    const secrets = secretValues(config, deps.env);
    // The report quotes what agents and the store answered; the timer's journal and the store keep it.
    const redact = createRedactor(secrets);
    // Log lines (restarts) go to stderr: stdout carries the table or the JSON. journald keeps both.
    const log = createLogger({
      agent: "health",
      secrets,
      write: deps.stderr,
      now: deps.now,
    });
    const store = await openForHealth(config, storeTargetOf(values, deps, loaded), redact);
    const opened = "error" in store ? undefined : store;
    try {
      const bus = opened ? createSqliteBus(opened, { wake: { watch: false } }) : undefined;
      const report = redactReport(await checkHealth(config, {
        fetch: deps.fetch,
        now: deps.now,
        sleep: deps.sleep,
        diskSpace: deps.diskSpace,
        fileSize: deps.fileSize,
        store,
        busStats: bus ? () => bus.stats() : undefined,
      }), redact);
      await bus?.close();
      let actions: HealAction[] = [];
      if (values["restart"] === true) {
        if (opened) {
          actions = await heal(report, config, {
            manager: createSystemctl(deps.run),
            restarts: createRestartLog(opened.client),
            log,
            now: deps.now,
          });
        } else {
          log.error(
            "not restarting: the store cannot be opened, so restarts could be neither limited nor recorded",
            { store: store },
          );
        }
      }
      if (opened) await saveReport(opened, report);
      // Redacted value by value in the JSON: a secret matched across a JSON escape would break the document.
      deps.stdout(
        values["json"] === true
          ? JSON.stringify({ ...report, actions }, (_k, v) => (typeof v === "string" ? redact(v) : v), 2) + "\n"
          : redact(formatReport(report, actions)),
      );
      return exitCodeOf(report.status);
    } finally {
      opened?.close();
    }
  },
});
