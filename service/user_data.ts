/**
 * The boot script of an app instance on AWS: what `deno task serve --backend aws` passes to
 * `RunInstances` as user data when no `--user-data-file` is given.
 *
 * cloud-init runs a plain user-data script once per instance, and marks it run when it starts it
 * (https://docs.cloud-init.io/en/latest/explanation/format.html#user-data-script): an instance
 * stopped during its first boot (`Ec2Fleet.create` stops new instances as soon as they run; the
 * controller stops idle ones) would never run it again, and never get a worker. So the user data
 * here is a MIME multi-part archive whose one part is of type `text/x-shellscript-per-boot`
 * ({@linkcode perBootUserData}): cloud-init's part handler for it writes the script to
 * `/var/lib/cloud/scripts/per-boot/` in its init stage at every boot (that handler's frequency is
 * "always"), and the Scripts Per Boot module runs it in the final stage of every boot
 * (https://docs.cloud-init.io/en/latest/reference/modules.html#scripts-per-boot). The script is
 * idempotent: each step checks what is there, and every switch (Deno, the package, the unit's
 * files) is a rename of something complete, so a stop at any moment of any boot leaves either the
 * old or the new, and the next start finishes the job.
 *
 * Why this and not the alternatives: `#cloud-config` with `cloud_final_modules: [[scripts-user,
 * always]]` replaces the image's whole list of final modules (lists are replaced when configs
 * merge, https://docs.cloud-init.io/en/latest/reference/merging.html), dropping the others
 * (final_message, keys_to_console…); a systemd unit written by a once-only script still loses a
 * stop that lands before the unit is written and enabled. The per-boot part changes nothing else
 * of the image's configuration and has no such window: cloud-init puts the script in place
 * itself, at every boot, before it runs it.
 *
 * The script installs the program as a systemd unit, enabled at every boot, and starts it. The
 * worker stops its own instance when the queue is empty; it then exits successfully, and
 * `Restart=on-failure` leaves it stopped until the next boot.
 *
 * The AMI must already hold the project in `appDir` with its dependencies and models installed
 * (`deno install --frozen && deno task model:build`, run as `user`); see `docs/aws.md`.
 * @module
 */
import {
  APP_DIR_DEFAULT,
  APP_USER_DEFAULT,
  ConfigError,
  LINUX_USER_NAME,
  type ServiceConfig,
  workerFlags,
} from "./config.ts";

/** Where the AMI keeps the project, and who runs the worker. */
export interface WorkerBootOptions {
  /** The project's directory on the AMI. @default {APP_DIR_DEFAULT} */
  appDir?: string;
  /** The account that runs the worker (owns the project and Deno's cache). @default {APP_USER_DEFAULT} */
  user?: string;
  /** The Deno executable, an absolute path or a name on systemd's PATH. @default {"deno"} */
  deno?: string;
}

/** The systemd unit's name on the instance. */
export const WORKER_UNIT = "fr-worker.service";
/** The wrapper the unit runs; it holds the worker's command line. */
export const WORKER_WRAPPER = "/usr/local/bin/fr-worker";
/** The web instance's unit (`deno task aws up`: the packaged web tier). */
export const SERVE_UNIT = "fr-serve.service";
/** The wrapper the web instance's unit runs. */
export const SERVE_WRAPPER = "/usr/local/bin/fr-serve";

/** The unit a boot script installs: its file, wrapper and description. */
interface BootUnit {
  readonly unit: string;
  readonly wrapper: string;
  readonly description: string;
}

const UNITS = {
  worker: { unit: WORKER_UNIT, wrapper: WORKER_WRAPPER, description: "app-tier worker" },
  serve: { unit: SERVE_UNIT, wrapper: SERVE_WRAPPER, description: "web tier and controller" },
} as const satisfies Record<string, BootUnit>;

/**
 * Quotes `value` for a POSIX shell: single quotes, with each `'` written as `'\''`.
 * @example
 * ```ts
 * shellQuote("it's"); // "'it'\\''s'"
 * ```
 */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * The boot script (bash) that installs and starts the worker unit, run at every boot (see the
 * module's note); {@linkcode workerUserData} wraps it for cloud-init.
 *
 * @param config the web tier's settings; the worker gets the same backend, id, region, model and
 *   queue settings (`workerFlags`)
 * @param options where the project is on the AMI and who runs it
 * @returns the script
 * @throws {ConfigError} for a value that cannot be written into the script safely (a line break,
 *   a character outside ASCII)
 */
export function workerBootScript(config: ServiceConfig, options: WorkerBootOptions = {}): string {
  const appDir = options.appDir ?? APP_DIR_DEFAULT;
  const user = options.user ?? APP_USER_DEFAULT;
  const deno = options.deno ?? "deno";
  const args = ["task", "worker", ...workerFlags(config)];
  checkWritable([appDir, user, deno, ...args], "pass a --user-data-file of your own");
  if (!LINUX_USER_NAME.test(user)) {
    throw new ConfigError("--app-user", `${JSON.stringify(user)} is not a Linux user name`);
  }
  return `#!/bin/bash
# App-instance boot script, generated by \`deno task serve --backend aws\` (service/user_data.ts).
# cloud-init runs it at every boot (a per-boot part); it (re)installs the worker's systemd unit.
set -euo pipefail
${unitScript(UNITS.worker, config.id, user, appDir, `\${FR_DENO:-${doubleQuoted(deno)}}`, args)}`;
}

/**
 * The user data that runs {@linkcode workerBootScript} at every boot: what
 * `deno task serve --backend aws` passes to `RunInstances` when no `--user-data-file` is given.
 *
 * @returns the MIME archive (the fleet base64-encodes it)
 * @throws {ConfigError} for a value that cannot be written into the script safely
 */
export function workerUserData(config: ServiceConfig, options: WorkerBootOptions = {}): string {
  return perBootUserData(workerBootScript(config, options));
}

/** The file name cloud-init gives the boot script in `/var/lib/cloud/scripts/per-boot/`. */
export const BOOT_SCRIPT_NAME = "fr-boot.sh";
/** The MIME boundary of {@linkcode perBootUserData}; a script holding it is refused. */
const BOOT_BOUNDARY = "==fr-boot-part==";
/** EC2's limit on user data, before base64: 16 KB. */
export const USER_DATA_BYTES_MAX = 16 * 1024;

/**
 * Wraps a boot script as cloud-init user data that runs it at every boot: a MIME multi-part
 * archive with one `text/x-shellscript-per-boot` part (7bit: the script is ASCII).
 *
 * @param script a bash script, ASCII only
 * @returns the user data
 * @throws {ConfigError} for a script that is not ASCII, holds the boundary, or makes user data
 *   over {@linkcode USER_DATA_BYTES_MAX}
 * @example
 * ```ts
 * const userData = perBootUserData("#!/bin/bash\nsystemctl start fr-worker.service\n");
 * ```
 */
export function perBootUserData(script: string): string {
  const outside = /[^\t\n\x20-\x7e]/.exec(script);
  if (outside) {
    throw new ConfigError(
      "--user-data-file",
      `the boot script has ${JSON.stringify(outside[0])}, outside 7-bit ASCII`,
    );
  }
  if (script.includes(BOOT_BOUNDARY)) {
    throw new ConfigError("--user-data-file", `the boot script holds ${BOOT_BOUNDARY}`);
  }
  const userData = [
    `Content-Type: multipart/mixed; boundary="${BOOT_BOUNDARY}"`,
    "MIME-Version: 1.0",
    "",
    `--${BOOT_BOUNDARY}`,
    'Content-Type: text/x-shellscript-per-boot; charset="us-ascii"',
    "MIME-Version: 1.0",
    "Content-Transfer-Encoding: 7bit",
    `Content-Disposition: attachment; filename="${BOOT_SCRIPT_NAME}"`,
    "",
    // The line break before a boundary belongs to the boundary (RFC 2046 5.1.1).
    script.replace(/\n?$/, "\n"),
    `--${BOOT_BOUNDARY}--`,
    "",
  ].join("\n");
  if (userData.length > USER_DATA_BYTES_MAX) {
    throw new ConfigError(
      "--user-data-file",
      `the boot script makes ${userData.length} bytes of user data, over EC2's ` +
        `USER_DATA_BYTES_MAX = ${USER_DATA_BYTES_MAX}`,
    );
  }
  return userData;
}

/**
 * Refuses values that cannot be written into a boot script safely: a line break or NUL (they
 * would end a here-document), or a character outside printable ASCII (the part is 7bit).
 */
function checkWritable(values: readonly string[], advice?: string): void {
  const then = advice === undefined ? "" : `; ${advice}`;
  for (const value of values) {
    if (/[\r\n\0]/.test(value)) {
      throw new ConfigError(
        "--user-data-file",
        `cannot generate the boot script: ${JSON.stringify(value)} contains a line break${then}`,
      );
    }
    if (/[^\x20-\x7e\t]/.test(value)) {
      throw new ConfigError(
        "--user-data-file",
        `cannot generate the boot script: ${JSON.stringify(value)} has a character outside ` +
          `ASCII (the boot script is plain 7-bit text)${then}`,
      );
    }
  }
}

/** Where a packaged worker comes from and how it is run (`deno task package`'s manifest). */
export interface PackageBootOptions {
  /** The package's tarball in S3 (the deployment's artifacts prefix), read with the instance's role. */
  readonly bucket: string;
  readonly key: string;
  /** The tarball's sha256 (hex): the script refuses any other file. */
  readonly sha256: string;
  /** The program's command from the package's manifest (`programs.worker.command`), "deno" first. */
  readonly command: readonly string[];
  /**
   * Which packaged program the unit runs: an app instance's worker, or the web instance's web
   * tier (`serve`, with `args`). @default {"worker"}
   */
  readonly program?: "worker" | "serve";
  /** The program's settings after its command. @default {workerFlags(config)} */
  readonly args?: readonly string[];
  /** The Deno release the instance installs when its `deno` is another or missing. */
  readonly denoVersion: string;
  /** Where the package is unpacked. @default {APP_DIR_DEFAULT} */
  readonly installDir?: string;
  /** The account that runs the worker. @default {APP_USER_DEFAULT} */
  readonly user?: string;
}

/** Where the boot script installs Deno when the image has none (or another version). */
export const DENO_INSTALL_PATH = "/usr/local/bin/deno";
/**
 * Beside `installDir`, the folder of unpacked packages, one per sha256; `installDir` is a symlink
 * to the one in use.
 */
export const RELEASES_SUFFIX = ".releases";

const SHA256_HEX = /^[0-9a-f]{64}$/;
const DENO_VERSION = /^\d+\.\d+\.\d+$/;

/**
 * The boot script (bash) for an instance that runs a packaged program on a stock Ubuntu image: no
 * AMI baking, no git clone. Run at every boot ({@linkcode packageUserData}), it does what is
 * missing, and only that:
 *
 * 1. the AWS CLI (snap; snapd's installs are transactional), and Deno when missing or another
 *    version (Deno's release zip, unpacked with python3: a stock image has no unzip, into a temp
 *    directory beside {@linkcode DENO_INSTALL_PATH}, then renamed over it);
 * 2. the package, when `installDir` is not the symlink to `<installDir>.releases/<sha256>`:
 *    copied from S3 with the instance's role into a `.partial` directory there, its sha256
 *    checked, unpacked, renamed to `<sha256>` (so that directory exists only complete and
 *    checked), then `installDir` switched to it by renaming a new symlink over it;
 * 3. the program's wrapper and systemd unit (each written beside and renamed into place), then
 *    `systemctl enable --now`, which runs the program now and at every later boot.
 *
 * A half-downloaded or other artifact never runs: nothing is unpacked before the digest matches.
 * Only a real instance can check: that cloud-init runs the per-boot part (an image whose
 * cloud-init predates it), that snap and dl.deno.land are reachable from its subnet, and that its
 * role may `s3:GetObject` the artifact.
 *
 * @param config the web tier's settings; the worker gets `workerFlags(config)`
 * @param options the artifact, its digest, its run command, the Deno release
 * @returns the script
 * @throws {ConfigError} for a value that cannot be written into the script safely
 */
export function packageBootScript(config: ServiceConfig, options: PackageBootOptions): string {
  const installDir = options.installDir ?? APP_DIR_DEFAULT;
  const user = options.user ?? APP_USER_DEFAULT;
  const [program, ...commandArgs] = options.command;
  const args = [...commandArgs, ...(options.args ?? workerFlags(config))];
  checkWritable([installDir, user, options.bucket, options.key, ...args]);
  if (program !== "deno") {
    throw new ConfigError(
      "--user-data-file",
      `a package's command starts with deno, not ${program}`,
    );
  }
  if (!LINUX_USER_NAME.test(user)) {
    throw new ConfigError("--app-user", `${JSON.stringify(user)} is not a Linux user name`);
  }
  if (!SHA256_HEX.test(options.sha256)) {
    throw new ConfigError("--user-data-file", `${options.sha256} is not a hex sha256`);
  }
  if (!DENO_VERSION.test(options.denoVersion)) {
    throw new ConfigError("--user-data-file", `${options.denoVersion} is not a Deno version`);
  }
  const dir = shellQuote(installDir);
  const releases = shellQuote(`${installDir}${RELEASES_SUFFIX}`);
  const release = shellQuote(`${installDir}${RELEASES_SUFFIX}/${options.sha256}`);
  const source = shellQuote(`s3://${options.bucket}/${options.key}`);
  return `#!/bin/bash
# Boot script for a packaged program, generated by service/user_data.ts (packageBootScript).
# cloud-init runs it at every boot (a per-boot part): it does what is missing, and each switch is
# a rename of something complete, so a stop at any moment is finished by the next boot.
set -euo pipefail
export PATH="$PATH:/snap/bin"
if ! command -v aws >/dev/null; then
  snap install aws-cli --classic
fi
deno_path="$(command -v deno || true)"
if [ -z "$deno_path" ] || ! "$deno_path" --version 2>/dev/null | head -n 1 | grep -qx 'deno ${options.denoVersion}.*'; then
  unpacked="$(mktemp -d ${DENO_INSTALL_PATH}.partial.XXXXXX)"
  curl -fsSL --retry 5 -o "$unpacked/deno.zip" \\
    "https://dl.deno.land/release/v${options.denoVersion}/deno-$(uname -m)-unknown-linux-gnu.zip"
  python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \\
    "$unpacked/deno.zip" "$unpacked"
  chmod 755 "$unpacked/deno"
  mv -f "$unpacked/deno" ${DENO_INSTALL_PATH}
  rm -rf "$unpacked"
fi
rm -rf ${DENO_INSTALL_PATH}.partial.*
if [ "$(readlink ${dir} || true)" != ${release} ] || [ ! -d ${release} ]; then
  mkdir -p ${releases}
  if [ ! -d ${release} ]; then
    work="$(mktemp -d ${release}.XXXXXX.partial)"
    aws s3 cp --only-show-errors --region ${
    shellQuote(config.region)
  } ${source} "$work/package.tar.gz"
    echo ${shellQuote(`${options.sha256}  package.tar.gz`)} > "$work/package.sha256"
    (cd "$work" && sha256sum --check --quiet package.sha256)
    mkdir "$work/tree"
    tar -xzf "$work/package.tar.gz" -C "$work/tree" --strip-components=1 --no-same-owner
    mv -T "$work/tree" ${release}
  fi
  ln -sfn ${release} ${shellQuote(`${installDir}.link`)}
  if [ -d ${dir} ] && [ ! -L ${dir} ]; then rm -rf ${dir}; fi
  mv -T ${shellQuote(`${installDir}.link`)} ${dir}
fi
# What a boot cut short left, and releases no longer in use.
find ${releases} -mindepth 1 -maxdepth 1 ! -name ${options.sha256} -exec rm -rf {} +
${
    unitScript(
      UNITS[options.program ?? "worker"],
      config.id,
      user,
      installDir,
      "${FR_DENO:-deno}",
      args,
    )
  }`;
}

/**
 * The user data that runs {@linkcode packageBootScript} at every boot, for `RunInstances`'
 * `UserData` (`deno task aws up`'s launch template and web instance).
 *
 * @param config the web tier's settings; the worker gets `workerFlags(config)`
 * @param options the artifact, its digest, its run command, the Deno release
 * @returns the MIME archive
 * @throws {ConfigError} for a value that cannot be written into the script safely
 * @example
 * ```ts
 * const userData = packageUserData(config, {
 *   bucket: "fr-artifacts", key: "fr/package.tar.gz", sha256, denoVersion: "2.9.6",
 *   command: manifest.programs.worker.command,
 * });
 * ```
 */
export function packageUserData(config: ServiceConfig, options: PackageBootOptions): string {
  return perBootUserData(packageBootScript(config, options));
}

/** Escapes `value` for the inside of a bash double-quoted string. */
function doubleQuoted(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("$", "\\$");
}

/**
 * The part of a boot script that writes the program's wrapper and systemd unit (each beside,
 * then renamed into place: a stop never leaves half a file) and starts it: the wrapper runs
 * `"<deno>" <args>` from `dir` as `user`.
 */
function unitScript(
  { unit, wrapper, description }: BootUnit,
  id: string,
  user: string,
  dir: string,
  deno: string,
  args: readonly string[],
): string {
  return `cat > ${wrapper}.new <<'FR_WORKER_EOF'
#!/bin/bash
set -euo pipefail
cd ${shellQuote(dir)}
exec "${deno}" ${args.map(shellQuote).join(" ")}
FR_WORKER_EOF
chmod 755 ${wrapper}.new
mv -f ${wrapper}.new ${wrapper}
cat > /etc/systemd/system/${unit}.new <<'FR_UNIT_EOF'
[Unit]
Description=face-recognition ${description} (${id})
Wants=network-online.target
After=network-online.target

[Service]
Type=exec
User=${user}
ExecStart=${wrapper}
Restart=on-failure
RestartSec=2

[Install]
WantedBy=multi-user.target
FR_UNIT_EOF
mv -f /etc/systemd/system/${unit}.new /etc/systemd/system/${unit}
systemctl daemon-reload
systemctl enable --now ${unit}
`;
}
