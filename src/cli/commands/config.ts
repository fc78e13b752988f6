import { displayDbUrl } from "../../store/mod.ts";
import { dirname, resolve } from "node:path";
import { type Config, ConfigError, type ConfigIssue, configJsonSchema, findSecretRefs, loadConfig } from "../../config.ts";
import { describeSecret } from "../../redact.ts";
import { readFaqFile } from "../../router/faq.ts";
import { type CliDeps, defineCommand } from "../command.ts";
import { configPathOf } from "../context.ts";

async function checkFiles(config: Config, baseDir: string, deps: CliDeps): Promise<ConfigIssue[]> {
  const issues: ConfigIssue[] = [];
  for (const [name, role] of Object.entries(config.roles)) {
    if (role.faq === undefined) continue;
    const read = await readFaqFile(resolve(baseDir, role.faq), `roles.${name}.faq`, deps.readTextFile);
    if ("issues" in read) issues.push(...read.issues);
  }
  return issues;
}

export const configCheckCommand = defineCommand({
  name: "config check",
  summary: "validate the config file and the secrets it names",
  async run({ values, deps }) {
    const path = configPathOf(values, deps);
    let text: string;
    try {
      text = await deps.readTextFile(path);
    } catch {
      deps.stderr(`config check: cannot read ${path}; pass --config PATH or set AIDEAZZ_CONFIG\n`);
      return 1;
    }
    let issues: ConfigIssue[] = [];
    let config: Config | undefined;
    try {
      config = loadConfig(text, deps.env);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      issues = err.issues;
      // Missing secrets are reported after the shape is valid; parse again without them to check files too.
      try {
        config = loadConfig(text, deps.env, []);
      } catch { /* the shape itself is invalid */ }
    }
    if (config) issues.push(...await checkFiles(config, dirname(path), deps));
    if (issues.length > 0) {
      deps.stderr(`config check: ${path}: ${issues.length} problem${issues.length === 1 ? "" : "s"}\n`);
      for (const issue of issues) deps.stderr(`  ${issue.path}: ${issue.message}\n`);
      return 1;
    }
    const ok = config!;
    deps.stdout(`config check: ${path}: ok\n`);
    deps.stdout(`  store: ${displayDbUrl(ok.store.url)}\n`);
    for (const a of ok.agents) {
      deps.stdout(`  agent ${a.name}: ${a.kind}${a.role ? ` (${a.role})` : ""} on ${a.host}:${a.port}\n`);
    }
    for (const s of findSecretRefs(ok, deps.env)) {
      deps.stdout(`  secret ${s.envVar} (${s.path}): ${describeSecret(s.value)}\n`);
    }
    return 0;
  },
});

export const configSchemaCommand = defineCommand({
  name: "config schema",
  summary: "print the config file's JSON Schema (for editor autocompletion)",
  run({ deps }) {
    deps.stdout(JSON.stringify(configJsonSchema(), null, 2) + "\n");
    return Promise.resolve(0);
  },
});
