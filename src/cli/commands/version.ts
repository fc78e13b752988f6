import { arch, runtime } from "../../platform.ts";
import { VERSION } from "../../version.ts";
import { defineCommand } from "../command.ts";

export const versionCommand = defineCommand({
  name: "version",
  summary: "print the version",
  run({ deps }) {
    deps.stdout(`aideazz ${VERSION} (${runtime}, ${arch})\n`);
    return Promise.resolve(0);
  },
});
