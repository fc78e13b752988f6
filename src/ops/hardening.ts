/**
 * The sandbox every aideazz unit gets. `systemd-analyze security --offline=true` (systemd 252) rates it 1.1 for
 * an agent and 0.9 for the llama and health units (≤ 2.0 required; the classic unit without it rates 9.2 UNSAFE).
 *
 * Deliberately absent: `MemoryDenyWriteExecute=yes` (V8's JIT needs writable+executable memory: the agents
 * would die at start), `PrivateNetwork=`/`IPAddressDeny=` on agents (they call Telegram, WhatsApp and the model
 * APIs), `MemoryLimit=` (deprecated cgroup-v1 name of `MemoryMax=`).
 *
 * @module
 */

/** Lines of the [Service] section shared by every unit. */
export const HARDENING: readonly string[] = [
  "# Sandbox (systemd-analyze security --offline=true: agent 1.1, llama and health 0.9). No MemoryDenyWriteExecute=: V8's JIT needs W+X memory.",
  "UMask=0077",
  "NoNewPrivileges=yes",
  "CapabilityBoundingSet=",
  "AmbientCapabilities=",
  "ProtectSystem=strict",
  "ProtectHome=yes",
  "PrivateTmp=yes",
  "PrivateDevices=yes",
  "PrivateUsers=yes",
  "PrivateIPC=yes",
  "PrivateMounts=yes",
  "ProtectHostname=yes",
  "ProtectClock=yes",
  "ProtectKernelTunables=yes",
  "ProtectKernelModules=yes",
  "ProtectKernelLogs=yes",
  "ProtectControlGroups=yes",
  "ProtectProc=invisible",
  "ProcSubset=pid",
  "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
  "RestrictNamespaces=yes",
  "RestrictRealtime=yes",
  "RestrictSUIDSGID=yes",
  "LockPersonality=yes",
  "RemoveIPC=yes",
  "KeyringMode=private",
  "DevicePolicy=closed",
  "SystemCallArchitectures=native",
  // @pkey: V8 may use memory protection keys for its JIT where the CPU has them.
  "SystemCallFilter=@system-service @pkey",
  "SystemCallFilter=~@privileged @resources",
  // A filtered call fails with EPERM instead of killing the process (e.g. a runtime raising RLIMIT_NOFILE).
  "SystemCallErrorNumber=EPERM",
];

/** What `ProtectHome=yes` hides from every unit: a binary, model or config file there cannot be read. */
export const HIDDEN_HOMES: readonly string[] = ["/home", "/root", "/run/user"];

/** Network lines for a unit that only talks to 127.0.0.1/::1 (health job, llama.cpp sidecar). */
export const LOCALHOST_ONLY: readonly string[] = [
  "IPAddressDeny=any",
  "IPAddressAllow=localhost",
];
