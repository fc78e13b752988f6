/**
 * Builds the single aideazz binary with `deno compile`.
 *
 * Usage: `deno run -A scripts/build-binary.ts [--target TRIPLE] [--out-dir DIR] [--write-path P]... [--dry-run]`
 *        `deno run -A scripts/build-binary.ts --stage-only [--target TRIPLE]`   (prints the staged app dir)
 *        `deno run -A scripts/build-binary.ts --print-permissions`              (one permission flag a line)
 *
 * Where it runs: `deno compile` needs the base runtime `denort` for the target. It downloads it from Deno's own
 * download host unless `DENORT_BIN` names a local copy (deno compile reads that variable itself; this script
 * passes it through and checks it is an ELF for the target). Our build/CI machines reach neither, so the binary
 * is produced on a developer laptop or a release CI; CI runs `--dry-run` and the arm64 smoke instead.
 *
 * Staging. `deno compile` embeds the whole `node_modules` next to `deno.json` (nodeModulesDir "manual"). The
 * project's `node_modules` holds dev tools (the x86_64 Deno itself, vitest) and only the *host's* libSQL addon.
 * So the app is staged in `.cache/stage/<target>/`: copies of `src/`, `deno.json`, `package.json` and a
 * `node_modules` with exactly the production packages of package-lock.json (hard links into the real tree), no
 * other platform's addons, plus the target's libSQL addon — `@libsql/linux-arm64-gnu` comes from
 * `npm pack` (tarball checked against the lockfile's integrity) into `.cache/npm/`. `deno compile` runs in that
 * directory, so at run time libsql's `require(\`@libsql/${target}\`)` finds the right addon inside the binary.
 * (`deno install --os linux --arch arm64` would do the selection too, but writes the project's node_modules,
 * which is shared with the x86_64 tools; the stage leaves it untouched.) The same stage is what
 * `scripts/ci/arm64-smoke.sh` runs under qemu, so the smoke exercises the exact tree that gets embedded.
 *
 * Permissions baked into the binary (not -A):
 * - `--allow-net`: provider, Telegram and WhatsApp hosts and the listen ports all come from the config.
 * - `--allow-read`: unscoped; `--config FILE` and `--db file:PATH` are operator-chosen paths, and libsql's
 *   libc probe (detect-libc) reads /usr/bin/ldd.
 * - `--allow-write=/var/lib/aideazz,/tmp,/etc/systemd/system,/etc/polkit-1/rules.d` (`--write-path`, repeated, replaces
 *   the list): the
 *   state directory of the systemd unit, and where `aideazz systemd render --out` writes units and the polkit rule;
 *   and temp files. Deno only checks JS-level writes (e.g. creating the database's directory); libSQL's native
 *   code writes the database itself, unchecked, so the systemd sandbox (ReadWritePaths) is the real boundary.
 * - `--allow-env`: unscoped; config names its secret variables freely (`tokenEnv`, `apiKeyEnv`, …) and
 *   `platform.env()` snapshots `process.env`, which Deno refuses under a name list or prefix (`--allow-env=AIDEAZZ_*`
 *   makes `{...process.env}` throw NotCapable).
 * - `--allow-ffi`: the libSQL Node-API addon, and glibc's `malloc_trim` (src/platform.ts `trimNativeHeap`). Native
 *   code is not sandboxed by Deno, hence the notes above.
 * - `--allow-sys`: os/process information used by health and by dependencies.
 * - `--allow-run`: `health --restart` runs systemctl and `up` spawns the binary itself, whose install path is not
 *   known at build time (a name list would resolve through PATH at start-up).
 * - `--no-prompt`: a permission the flags do not grant is refused with the binary's own error, never asked for on a
 *   terminal (an operator's "y" would let that run write anywhere, and an agent started by hand would wait on it).
 *
 * `node:util` parseArgs is used for flags: `@std/cli` lives on JSR, which our machines cannot reach.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { DEFAULT_WRITE_PATHS } from "../src/platform.ts";
import { V8_FLAGS_ARG } from "../src/v8-flags.ts";

/** Targets we ship: the Oracle ARM VM (default) and x86_64 for local use. */
export const TARGETS = ["aarch64-unknown-linux-gnu", "x86_64-unknown-linux-gnu"] as const;
export type Target = (typeof TARGETS)[number];
export const DEFAULT_TARGET: Target = "aarch64-unknown-linux-gnu";

/** The libSQL addon package per target: libsql's own `neon.targets` map (test/build checks they agree). */
export const LIBSQL_ADDONS: Readonly<Record<Target, string>> = {
  "aarch64-unknown-linux-gnu": "@libsql/linux-arm64-gnu",
  "x86_64-unknown-linux-gnu": "@libsql/linux-x64-gnu",
};

/** ELF e_machine of each target, to reject a DENORT_BIN built for the wrong architecture. */
const ELF_MACHINE: Readonly<Record<Target, number>> = {
  "aarch64-unknown-linux-gnu": 0xb7,
  "x86_64-unknown-linux-gnu": 0x3e,
};


/** A build failure with the exit code the CLI returns (2 for usage errors). */
export class BuildError extends Error {
  constructor(message: string, readonly exitCode = 1) {
    super(message);
    this.name = "BuildError";
  }
}

export function isTarget(value: string): value is Target {
  return (TARGETS as readonly string[]).includes(value);
}

export function toTarget(value: string): Target {
  if (isTarget(value)) return value;
  throw new BuildError(`unknown target "${value}"; expected one of: ${TARGETS.join(", ")}`, 2);
}

/** The permission flags baked into the binary (see the module comment for each choice). */
export function permissionFlags(writePaths: readonly string[] = DEFAULT_WRITE_PATHS): string[] {
  if (writePaths.length === 0 || writePaths.some((p) => !path.isAbsolute(p) || p.includes(","))) {
    // A relative path would be resolved against wherever the binary runs from.
    throw new BuildError(
      `write paths must be absolute and contain no commas: ${JSON.stringify(writePaths)}`,
      2,
    );
  }
  return [
    "--allow-net",
    "--allow-read",
    `--allow-write=${writePaths.join(",")}`,
    "--allow-env",
    "--allow-ffi",
    "--allow-sys",
    "--allow-run",
    "--no-prompt",
  ];
}

export interface CompileOptions {
  target: Target;
  /** Absolute directory for the binary (`deno compile` runs in `stageDir`). */
  outDir: string;
  /** Absolute staged app directory (see `stageApp`). */
  stageDir: string;
  /** The `deno` executable. Default `deno`. */
  denoBin?: string;
  /** A local `denort` for the target; exported as DENORT_BIN, which deno compile reads instead of downloading. */
  denortBin?: string;
  /** Entry module relative to `stageDir`. Default `src/main.ts`. */
  entry?: string;
  writePaths?: readonly string[];
}

export interface CompileInvocation {
  cmd: string;
  args: string[];
  /** Variables to add to the inherited environment. */
  env: Record<string, string>;
  cwd: string;
}

/** The output file name for a target: `aideazz-<target>`. */
export function binaryName(target: Target): string {
  return `aideazz-${target}`;
}

/**
 * The exact `deno compile` invocation; pure.
 *
 * @example
 * buildCompileArgs({ target: "aarch64-unknown-linux-gnu", outDir: "/repo/dist", stageDir: "/repo/.cache/stage/x" })
 * // → { cmd: "deno", args: ["compile", "--target", "aarch64-unknown-linux-gnu", "--output",
 * //      "/repo/dist/aideazz-aarch64-unknown-linux-gnu", ...permissions, "--include",
 * //      "node_modules/@libsql/linux-arm64-gnu", "src/main.ts"], env: {}, cwd: "/repo/.cache/stage/x" }
 */
export function buildCompileArgs(opts: CompileOptions): CompileInvocation {
  const target = toTarget(opts.target);
  for (const [name, dir] of [["outDir", opts.outDir], ["stageDir", opts.stageDir]] as const) {
    if (!path.isAbsolute(dir)) throw new BuildError(`${name} must be an absolute path, got "${dir}"`, 2);
  }
  return {
    cmd: opts.denoBin ?? "deno",
    args: [
      "compile",
      "--target",
      target,
      "--output",
      path.join(opts.outDir, binaryName(target)),
      ...permissionFlags(opts.writePaths),
      V8_FLAGS_ARG, // memory: see src/v8-flags.ts
      // As deno.json says for `deno run`: a request's signal aborts only when its client goes away.
      "--unstable-no-legacy-abort",
      // libsql loads its addon with a computed require(), which no static analysis follows: include it by name.
      "--include",
      `node_modules/${LIBSQL_ADDONS[target]}`,
      opts.entry ?? "src/main.ts",
    ],
    env: opts.denortBin === undefined ? {} : { DENORT_BIN: opts.denortBin },
    cwd: opts.stageDir,
  };
}

/** The subset of package-lock.json (v3) that staging reads. */
export interface LockPackage {
  version?: string;
  integrity?: string;
  dev?: boolean;
  optional?: boolean;
  os?: string[];
  cpu?: string[];
  link?: boolean;
}
export interface Lockfile {
  packages: Record<string, LockPackage>;
}

export interface StagePlan {
  /** `node_modules/…` paths to link from the project's tree. */
  packages: string[];
  addon: { name: string; version: string; integrity: string | undefined };
}

/** Production packages of the lockfile for a target: no dev packages, no other platform's optional addons. */
export function planStage(lock: Lockfile, target: Target): StagePlan {
  const addonName = LIBSQL_ADDONS[toTarget(target)];
  const addonKey = `node_modules/${addonName}`;
  const addon = lock.packages[addonKey];
  if (addon?.version === undefined) throw new BuildError(`package-lock.json has no version for ${addonName}`);
  const packages = Object.entries(lock.packages)
    .filter(([key, pkg]) => key !== "" && key !== addonKey && !pkg.dev && !pkg.link)
    .filter(([, pkg]) => !(pkg.optional && (pkg.os !== undefined || pkg.cpu !== undefined)))
    .map(([key]) => key)
    .sort();
  return { packages, addon: { name: addonName, version: addon.version, integrity: addon.integrity } };
}

/** sha512 SRI string of a file, as npm writes it into package-lock.json. */
export function integrityOf(file: string): string {
  return `sha512-${createHash("sha512").update(fs.readFileSync(file)).digest("base64")}`;
}

function run(cmd: string, args: string[], cwd: string): void {
  const res = spawnSync(cmd, args, { cwd, stdio: ["ignore", "ignore", "inherit"] });
  if (res.error) throw new BuildError(`${cmd} ${args.join(" ")} failed: ${res.error.message}`);
  if (res.status !== 0) throw new BuildError(`${cmd} ${args.join(" ")} exited with ${res.status}`);
}

/**
 * The directory of the addon package: the project's own when it is the host's, otherwise
 * `.cache/npm/<name>@<version>` (filled by `npm pack` + integrity check + tar, as arm64-sysroot.sh does).
 */
export function ensureAddon(root: string, addon: StagePlan["addon"]): string {
  const installed = path.join(root, "node_modules", addon.name);
  if (readVersion(installed) === addon.version) return installed;
  const cached = path.join(root, ".cache", "npm", `${addon.name}@${addon.version}`);
  if (readVersion(cached) === addon.version) return cached;
  const tgzDir = path.join(root, ".cache", "npm", "tgz");
  fs.mkdirSync(tgzDir, { recursive: true });
  const tgz = path.join(tgzDir, `${addon.name.slice(1).replace("/", "-")}-${addon.version}.tgz`);
  if (!fs.existsSync(tgz)) run("npm", ["pack", "--silent", `${addon.name}@${addon.version}`], tgzDir);
  const got = integrityOf(tgz);
  if (addon.integrity !== undefined && got !== addon.integrity) {
    fs.rmSync(tgz);
    throw new BuildError(
      `${addon.name}@${addon.version}: tarball integrity ${got} does not match package-lock.json`,
    );
  }
  const tmp = `${cached}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  run("tar", ["-xzf", tgz, "-C", tmp, "--strip-components=1"], root);
  fs.rmSync(cached, { recursive: true, force: true });
  fs.renameSync(tmp, cached);
  return cached;
}

function readVersion(pkgDir: string): string | undefined {
  try {
    const json: unknown = JSON.parse(fs.readFileSync(path.join(pkgDir, "package.json"), "utf8"));
    return typeof json === "object" && json !== null && "version" in json ? String(json.version) : undefined;
  } catch {
    return undefined;
  }
}

/** Mirrors `from` into `to`: hard links where possible (same filesystem), copies otherwise; skips `skip` names. */
function linkTree(from: string, to: string, skip: ReadonlySet<string> = new Set()): void {
  fs.mkdirSync(to, { recursive: true });
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    if (skip.has(entry.name)) continue;
    const src = path.join(from, entry.name);
    const dst = path.join(to, entry.name);
    if (entry.isDirectory()) linkTree(src, dst);
    else if (entry.isSymbolicLink()) fs.symlinkSync(fs.readlinkSync(src), dst);
    else {
      try {
        fs.linkSync(src, dst);
      } catch {
        fs.copyFileSync(src, dst);
      }
    }
  }
}

/** Builds `.cache/stage/<target>` from scratch (see the module comment) and returns its path. */
export function stageApp(root: string, target: Target): string {
  const lock = JSON.parse(fs.readFileSync(path.join(root, "package-lock.json"), "utf8")) as Lockfile;
  const plan = planStage(lock, target);
  const addonDir = ensureAddon(root, plan.addon);
  const stage = path.join(root, ".cache", "stage", target);
  fs.rmSync(stage, { recursive: true, force: true });
  fs.mkdirSync(stage, { recursive: true });
  for (const file of ["deno.json", "package.json", "package-lock.json"]) {
    fs.copyFileSync(path.join(root, file), path.join(stage, file));
  }
  // src is copied, not linked: other people edit it while a build or smoke runs.
  fs.cpSync(path.join(root, "src"), path.join(stage, "src"), { recursive: true });
  for (const key of plan.packages) {
    const from = path.join(root, key);
    if (!fs.existsSync(from)) {
      if (lock.packages[key]?.optional) continue; // an optional dependency npm could not install: same as npm
      throw new BuildError(`${key} is missing: run npm ci first`);
    }
    linkTree(from, path.join(stage, key), new Set(["node_modules"])); // nested ones are their own lock entries
  }
  linkTree(addonDir, path.join(stage, "node_modules", plan.addon.name));
  return stage;
}

/** Throws unless `file` is an ELF executable for `target`. */
export function checkDenort(file: string, target: Target): void {
  let header: Uint8Array;
  try {
    header = fs.readFileSync(file).subarray(0, 20);
  } catch (err) {
    throw new BuildError(`DENORT_BIN=${file} cannot be read: ${(err as Error).message}`, 2);
  }
  const isElf = header[0] === 0x7f && header[1] === 0x45 && header[2] === 0x4c && header[3] === 0x46;
  const machine = (header[18] ?? 0) | ((header[19] ?? 0) << 8);
  if (!isElf || machine !== ELF_MACHINE[target]) {
    throw new BuildError(
      `DENORT_BIN=${file} is not a ${target} executable (ELF machine 0x${machine.toString(16)})`,
      2,
    );
  }
}

/** Shell-quotes one word for printing. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

export function formatInvocation(inv: CompileInvocation): string {
  const env = Object.entries(inv.env).map(([k, v]) => `${k}=${shellQuote(v)} `).join("");
  return `cd ${shellQuote(inv.cwd)} && ${env}${[inv.cmd, ...inv.args].map(shellQuote).join(" ")}`;
}

const USAGE = `usage: deno run -A scripts/build-binary.ts [--target ${TARGETS.join("|")}] [--out-dir DIR]
         [--write-path PATH]... [--dry-run | --stage-only | --print-permissions]`;

export interface MainIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
  /** Repository root; default: the parent of this script's directory. */
  root?: string;
}

const defaultIo: MainIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  env: process.env,
};

/** The CLI; returns the exit code (0 ok, 1 build failed, 2 usage error). */
export function main(argv: readonly string[], io: MainIo = defaultIo): number {
  try {
    const { values } = parseOrThrow(argv);
    if (values.help) {
      io.stdout(`${USAGE}\n`);
      return 0;
    }
    const target = toTarget(values.target ?? DEFAULT_TARGET);
    const writePaths = values["write-path"] ?? DEFAULT_WRITE_PATHS;
    if (values["print-permissions"]) {
      io.stdout(permissionFlags(writePaths).join("\n") + "\n");
      return 0;
    }
    const root = io.root ?? path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
    const localDeno = path.join(root, "node_modules", ".bin", "deno");
    // Absolute: deno compile runs in the stage directory, the check below where the script runs.
    const denortBin = io.env.DENORT_BIN ? path.resolve(io.env.DENORT_BIN) : undefined;
    const outDir = path.resolve(root, values["out-dir"] ?? "dist");
    const inv = buildCompileArgs({
      target,
      outDir,
      stageDir: path.join(root, ".cache", "stage", target),
      denoBin: fs.existsSync(localDeno) ? localDeno : "deno",
      writePaths,
      ...(denortBin === undefined ? {} : { denortBin }),
    });
    if (values["dry-run"]) {
      io.stdout(`# after staging ${path.relative(root, inv.cwd)} (see scripts/build-binary.ts):\n`);
      io.stdout(`${formatInvocation(inv)}\n`);
      return 0;
    }
    if (denortBin !== undefined) checkDenort(denortBin, target);
    const stage = stageApp(root, target);
    if (values["stage-only"]) {
      io.stdout(`${stage}\n`);
      return 0;
    }
    if (denortBin === undefined) {
      io.stderr("build-binary: DENORT_BIN is not set; deno compile will download denort from Deno's host.\n");
    }
    fs.mkdirSync(outDir, { recursive: true });
    io.stderr(`build-binary: ${formatInvocation(inv)}\n`);
    const res = spawnSync(inv.cmd, inv.args, {
      cwd: inv.cwd,
      env: { ...io.env, ...inv.env },
      stdio: "inherit",
    });
    if (res.error) throw new BuildError(`cannot run ${inv.cmd}: ${res.error.message}`);
    if (res.status !== 0) throw new BuildError(`deno compile exited with ${res.status ?? res.signal}`);
    io.stdout(`${path.join(outDir, binaryName(target))}\n`);
    return 0;
  } catch (err) {
    if (!(err instanceof BuildError)) throw err;
    io.stderr(`build-binary: ${err.message}\n${err.exitCode === 2 ? `${USAGE}\n` : ""}`);
    return err.exitCode;
  }
}

function parseOrThrow(argv: readonly string[]) {
  try {
    return parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        target: { type: "string" },
        "out-dir": { type: "string" },
        "write-path": { type: "string", multiple: true },
        "dry-run": { type: "boolean" },
        "stage-only": { type: "boolean" },
        "print-permissions": { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (err) {
    throw new BuildError((err as Error).message, 2);
  }
}

if (import.meta.main) process.exit(main(process.argv.slice(2)));
