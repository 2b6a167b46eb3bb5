/**
 * EC2 on this machine, for the AWS code path end to end (`tests/aws_e2e_test.ts`): the query API
 * (`testing/ec2_server.ts`) over the shared instance model (`testing/fake_ec2.ts`), where each
 * instance has its own metadata service (`testing/imds_server.ts`) and runs a real process.
 *
 * - An instance goes to `pending` (RunInstances, StartInstances), and to `running` at the next
 *   DescribeInstances look; then it boots: the `boot` callback starts its process (a worker)
 *   with the instance's metadata URL, as systemd starts the worker at every boot of an app
 *   instance (on EC2 the OS boots after `running`, so nothing runs on a `pending` instance).
 * - An instance that goes to `stopping` or `shutting-down` (StopInstances, TerminateInstances,
 *   by the controller or by the worker itself) has its process sent SIGTERM (as the shutdown's
 *   systemd does), SIGKILL after `shutdownGraceMs`; it becomes `stopped` (`terminated`) at the
 *   first look after the process exited.
 * - Each instance's metadata service hands out its role's credentials with a session token of
 *   its own, so every EC2 call says which instance signed it. An instance's role may call only
 *   the EC2 actions `deploy/iam/app-role-policy.json` grants, on itself only (the policy's
 *   `ArnEquals ec2:SourceInstanceARN` condition, enforced here by token; whether AWS enforces it
 *   so only an account can show). Calls with no session token are the operator's or the web
 *   tier's (a user key), allowed everything.
 * @module
 */
import { type Ec2Call, type Ec2Principal, startEc2Server } from "./ec2_server.ts";
import { type ImdsServer, startImdsServer } from "./imds_server.ts";

/** The app role's policy, whose EC2 statements the stand-in enforces for instances. */
const APP_ROLE_POLICY = new URL("../deploy/iam/app-role-policy.json", import.meta.url);

/** What a booting instance's process is told. */
export interface BootContext {
  readonly instanceId: string;
  /** Its metadata service: `--imds-url` and `AWS_EC2_METADATA_SERVICE_ENDPOINT`. */
  readonly imdsUrl: string;
}

/** One boot of an instance: its process, from start to exit. */
export interface InstanceRun {
  readonly instanceId: string;
  readonly startedAtMs: number;
  readonly child: Deno.ChildProcess;
  /** Resolves when the process exited. */
  readonly exited: Promise<Deno.CommandStatus>;
  /** Set once it exited. */
  status?: Deno.CommandStatus;
  /** Set when a stop or termination signalled it. */
  signalledAtMs?: number;
}

/** Options for {@linkcode startEc2StandIn}. */
export interface Ec2StandInOptions {
  /** Starts what runs on an instance, at each boot. */
  readonly boot: (context: BootContext) => Deno.ChildProcess;
  /** The key instances' role credentials carry (the S3 emulator checks it); each gets its own session token. */
  readonly instanceKey: { readonly accessKeyId: string; readonly secretAccessKey: string };
  /** SIGTERM to SIGKILL on stop. @default {10000} */
  readonly shutdownGraceMs?: number;
  /** Calls after RunInstances during which EC2 does not know the new ids yet (`startEc2Server`). @default {0} */
  readonly propagationCalls?: number;
}

/** A running stand-in. */
export interface Ec2StandIn {
  /** For `--ec2-endpoint`. */
  readonly endpoint: string;
  /** Every EC2 call, with who signed it. */
  readonly calls: readonly Ec2Call[];
  /** Every boot, in order. */
  readonly runs: readonly InstanceRun[];
  /** Each instance's state now (EC2's names), without counting as a DescribeInstances look. */
  states(): Map<string, string>;
  /** Most instances `pending` or `running` at once so far. */
  peakLive(): number;
  /** Most instances `running` at once so far. */
  peakRunning(): number;
  /** Kills every process still running (SIGKILL) and stops the servers. */
  close(): Promise<void>;
}

const ROLE_NAME = "fr-app-role";

/** Starts the API server; instances are created through it (RunInstances). */
export async function startEc2StandIn(options: Ec2StandInOptions): Promise<Ec2StandIn> {
  const instanceActions = await appRoleEc2Actions();
  const graceMs = options.shutdownGraceMs ?? 10_000;
  const imds = new Map<string, ImdsServer>();
  const tokens = new Map<string, string>();
  const current = new Map<string, InstanceRun>();
  const runs: InstanceRun[] = [];
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let peakLive = 0;
  let peakRunning = 0;

  const boot = (instanceId: string) => {
    let server = imds.get(instanceId);
    if (server === undefined) {
      const sessionToken = `standin-${instanceId}-${crypto.randomUUID()}`;
      tokens.set(sessionToken, instanceId);
      server = startImdsServer({
        instanceId,
        role: { roleName: ROLE_NAME, ...options.instanceKey, sessionToken },
      });
      imds.set(instanceId, server);
    }
    const child = options.boot({ instanceId, imdsUrl: server.url });
    const run: InstanceRun = {
      instanceId,
      startedAtMs: Date.now(),
      child,
      exited: child.status.then((status) => {
        run.status = status;
        return status;
      }),
    };
    runs.push(run);
    current.set(instanceId, run);
  };
  const shutDown = (instanceId: string) => {
    const run = current.get(instanceId);
    if (run === undefined || run.status !== undefined) return;
    run.signalledAtMs = Date.now();
    signal(run.child, "SIGTERM");
    const timer = setTimeout(() => {
      timers.delete(timer);
      if (run.status === undefined) signal(run.child, "SIGKILL");
    }, graceMs);
    timers.add(timer);
    run.exited.then(() => {
      clearTimeout(timer);
      timers.delete(timer);
    });
  };

  /** Each instance's state, as the model's hooks report it (launches from the calls). */
  const states = new Map<string, string>();
  const server = startEc2Server({
    propagationCalls: options.propagationCalls,
    model: {
      onState(instanceId, _from, to) {
        states.set(instanceId, to);
        const all = [...currentStates().values()];
        peakLive = Math.max(peakLive, all.filter((s) => s === "pending" || s === "running").length);
        peakRunning = Math.max(peakRunning, all.filter((s) => s === "running").length);
        if (to === "running") boot(instanceId);
        if (to === "stopping" || to === "shutting-down") shutDown(instanceId);
      },
      // A stop ends when the instance's process (its last boot's) has exited.
      mayEnd(instanceId, state) {
        const run = current.get(instanceId);
        return state === "pending" || run === undefined || run.status !== undefined;
      },
    },
    principalOf: (accessKeyId, sessionToken) => {
      if (sessionToken === undefined) return { kind: "user", accessKeyId };
      const instanceId = tokens.get(sessionToken);
      return instanceId === undefined ? undefined : { kind: "instance", instanceId };
    },
    authorize: (principal: Ec2Principal, action, ids) =>
      principal.kind === "user" ||
      (instanceActions.has(action) && ids.length > 0 &&
        ids.every((id) => id === principal.instanceId)),
  });
  const currentStates = () => {
    for (const call of server.calls) {
      if (call.action !== "RunInstances" || call.error !== undefined) continue;
      for (const id of call.instanceIds) if (!states.has(id)) states.set(id, "pending");
    }
    return states;
  };
  return {
    endpoint: server.endpoint,
    calls: server.calls,
    runs,
    states: () => new Map(currentStates()),
    peakLive: () => peakLive,
    peakRunning: () => peakRunning,
    async close() {
      for (const run of runs) if (run.status === undefined) signal(run.child, "SIGKILL");
      await Promise.all(runs.map((r) => r.exited));
      for (const timer of timers) clearTimeout(timer);
      await server.close();
      await Promise.all([...imds.values()].map((s) => s.close()));
    },
  };
}

function signal(child: Deno.ChildProcess, name: Deno.Signal): void {
  try {
    child.kill(name);
  } catch {
    // It exited meanwhile.
  }
}

/**
 * The EC2 actions the app role's policy grants (`StopInstances`, `CreateTags`), each of which it
 * must confine to the calling instance: the stand-in knows no other kind of EC2 grant.
 */
async function appRoleEc2Actions(): Promise<Set<string>> {
  const policy = JSON.parse(await Deno.readTextFile(APP_ROLE_POLICY)) as {
    Statement: { Sid?: string; Action: string[]; Condition?: Record<string, unknown> }[];
  };
  const actions = new Set<string>();
  for (const statement of policy.Statement) {
    const ec2 = statement.Action.filter((a) => a.startsWith("ec2:"));
    if (ec2.length === 0) continue;
    const arnEquals = statement.Condition?.ArnEquals as Record<string, string> | undefined;
    if (!arnEquals?.["ec2:SourceInstanceARN"]?.endsWith("instance/${ec2:InstanceID}")) {
      throw new Error(
        `${APP_ROLE_POLICY.pathname}: statement ${statement.Sid} grants ${ec2.join(", ")} ` +
          "without confining it to the calling instance (ArnEquals ec2:SourceInstanceARN)",
      );
    }
    for (const action of ec2) actions.add(action.slice("ec2:".length));
  }
  return actions;
}
