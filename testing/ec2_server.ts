/**
 * EC2's API as a real HTTP server on 127.0.0.1, speaking EC2's query protocol (form-encoded
 * `Action=…&Version=2016-11-15`, XML answers, errors as `<Response><Errors><Error>` with EC2's
 * codes and HTTP 400/401/403), so a separate process (`serve --backend aws --ec2-endpoint …`,
 * a worker) drives it through its own SDK client. EC2 cannot run here; the state behind it is
 * `testing/fake_ec2.ts`'s instance model, the one the in-process mock answers from.
 *
 * Calls: RunInstances (with TagSpecifications), CreateTags, Start/Stop/TerminateInstances,
 * DescribeInstances (filters `instance-id`, `instance-state-name`, `tag:K`; pages of
 * `FAKE_PAGE_INSTANCES` with NextToken). Every call is recorded with who signed it:
 * {@linkcode Ec2Principal}, found from the request's session token by `principalOf`. Signatures
 * themselves are not verified (only that the request is signed): that is AWS's.
 * @module
 */
import { EC2Client } from "@aws-sdk/client-ec2";
import {
  FAKE_EC2_COMMANDS as COMMANDS,
  type FakeEc2Hooks,
  type FakeEc2Options,
  installFakeEc2,
} from "./fake_ec2.ts";

/** Who signed a call: an instance's role (its session token) or a user's key. */
export type Ec2Principal =
  | { readonly kind: "instance"; readonly instanceId: string }
  | { readonly kind: "user"; readonly accessKeyId: string };

/** One call the server answered (or refused). */
export interface Ec2Call {
  readonly action: string;
  readonly principal: Ec2Principal | undefined;
  /** The instance ids the call names (InstanceId.N, ResourceId.N), or RunInstances launched. */
  readonly instanceIds: readonly string[];
  /** EC2's error code when refused. */
  readonly error?: string;
  readonly atMs: number;
}

/** Options for {@linkcode startEc2Server}. */
export interface Ec2ServerOptions {
  /** The instance model's settings and hooks (`testing/fake_ec2.ts`). @default {its defaults} */
  readonly model?: FakeEc2Options & Omit<FakeEc2Hooks, "client">;
  /**
   * Who signed a request with this access key and session token; undefined refuses it
   * (`AuthFailure`, 401), as EC2 refuses an unknown token. @default {every key a user}
   */
  readonly principalOf?: (
    accessKeyId: string,
    sessionToken: string | undefined,
  ) => Ec2Principal | undefined;
  /**
   * What an instance's role may do, checked before the model: the app role's rule that an
   * instance stops and tags only itself (`deploy/iam/`). Refused calls get
   * `UnauthorizedOperation` (403). @default {allowed}
   */
  readonly authorize?: (principal: Ec2Principal, action: string, instanceIds: string[]) => boolean;
  /**
   * EC2's eventual consistency after RunInstances: for this many further calls, a call naming a
   * new instance gets `InvalidInstanceID.NotFound` and DescribeInstances leaves it out, as EC2
   * may ("the instance ID might not have propagated"; AWS, "Eventual consistency in the Amazon
   * EC2 API"). @default {0}
   */
  readonly propagationCalls?: number;
}

/** A running EC2 API stand-in. */
export interface Ec2Server {
  /** `http://127.0.0.1:<port>`, for `--ec2-endpoint`. */
  readonly endpoint: string;
  /** Every call, in order. */
  readonly calls: readonly Ec2Call[];
  close(): Promise<void>;
}

const XMLNS = "http://ec2.amazonaws.com/doc/2016-11-15/";
/** Largest request body read: EC2's own limit on a query request's parameters is far below. */
const REQUEST_BYTES_MAX = 1024 * 1024;

/** Starts the server on an ephemeral port. */
export function startEc2Server(options: Ec2ServerOptions = {}): Ec2Server {
  const calls: Ec2Call[] = [];
  // The model answers through an SDK client of the server's own, mocked by installFakeEc2 as
  // the in-process tests' clients are: one model of instances, not two.
  const client = new EC2Client({
    region: "us-east-1",
    credentials: { accessKeyId: "stand-in", secretAccessKey: "stand-in" },
  });
  const fake = installFakeEc2({ ...options.model, client });
  /** New instance id → calls left until it has propagated. */
  const unpropagated = new Map<string, number>();
  const principalOf = options.principalOf ??
    ((accessKeyId: string) => ({ kind: "user", accessKeyId }) as const);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      const requestId = crypto.randomUUID();
      // The SDK always sends Content-Length; without it the body's size is not known up front.
      const length = Number(request.headers.get("content-length") ?? NaN);
      if (request.method !== "POST" || !(length <= REQUEST_BYTES_MAX)) {
        return errorResponse(
          400,
          "InvalidRequest",
          `POST a query request with a Content-Length of at most ${REQUEST_BYTES_MAX} bytes`,
          requestId,
        );
      }
      const params = parseQuery(await request.text());
      const action = params.get("Action") ?? "";
      const input = nest(params);
      const instanceIds = [...list(input.InstanceId), ...list(input.ResourceId)].map(String);
      const record = (principal: Ec2Principal | undefined, error?: string) =>
        calls.push({
          action,
          principal,
          instanceIds,
          atMs: Date.now(),
          ...(error ? { error } : {}),
        });
      const credential = /Credential=([^/,\s]+)\//.exec(request.headers.get("authorization") ?? "");
      const token = request.headers.get("x-amz-security-token") ?? undefined;
      const principal = credential ? principalOf(credential[1], token) : undefined;
      if (principal === undefined) {
        record(undefined, "AuthFailure");
        return errorResponse(
          401,
          "AuthFailure",
          credential
            ? "The security token included in the request is invalid."
            : "AWS was not able to validate the provided access credentials",
          requestId,
        );
      }
      if (!Object.hasOwn(COMMANDS, action)) {
        record(principal, "InvalidAction");
        return errorResponse(
          400,
          "InvalidAction",
          `The action ${action} is not valid for this web service.`,
          requestId,
        );
      }
      if (options.authorize && !options.authorize(principal, action, instanceIds)) {
        record(principal, "UnauthorizedOperation");
        return errorResponse(
          403,
          "UnauthorizedOperation",
          "You are not authorized to perform this operation.",
          requestId,
        );
      }
      const unknown = instanceIds.filter((id) => unpropagated.has(id));
      for (const [id, left] of unpropagated) {
        if (left <= 1) unpropagated.delete(id);
        else unpropagated.set(id, left - 1);
      }
      if (unknown.length > 0) {
        record(principal, "InvalidInstanceID.NotFound");
        return errorResponse(
          400,
          "InvalidInstanceID.NotFound",
          `The instance ID '${unknown.join("', '")}' does not exist`,
          requestId,
        );
      }
      let output;
      try {
        // deno-lint-ignore no-explicit-any
        const Command = COMMANDS[action as keyof typeof COMMANDS] as any;
        output = await client.send(new Command(sdkInput(action, input)));
      } catch (error) {
        const code = (error as { Code?: string }).Code;
        if (code === undefined) throw error;
        record(principal, code);
        return errorResponse(400, code, (error as Error).message, requestId);
      }
      if (action === "RunInstances") {
        // deno-lint-ignore no-explicit-any
        const launched = (output as any).Instances.map((i: ModelInstance) => i.InstanceId);
        instanceIds.push(...launched);
        const propagationCalls = options.propagationCalls ?? 0;
        if (propagationCalls > 0) {
          for (const id of launched) unpropagated.set(id, propagationCalls);
        }
      }
      if (action === "DescribeInstances" && unpropagated.size > 0) {
        // deno-lint-ignore no-explicit-any
        const out = output as any;
        out.Reservations = out.Reservations.filter((r: { Instances: ModelInstance[] }) =>
          !r.Instances.some((i) => unpropagated.has(i.InstanceId))
        );
      }
      record(principal);
      return new Response(
        `<?xml version="1.0" encoding="UTF-8"?>\n<${action}Response xmlns="${XMLNS}">` +
          `<requestId>${requestId}</requestId>${outputXml(action, output)}</${action}Response>`,
        { headers: { "content-type": "text/xml;charset=UTF-8" } },
      );
    },
  );
  return {
    endpoint: `http://127.0.0.1:${server.addr.port}`,
    calls,
    async close() {
      await server.shutdown();
      fake.restore();
      client.destroy();
    },
  };
}

function errorResponse(status: number, code: string, message: string, requestId: string) {
  return new Response(
    `<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>${esc(code)}</Code>` +
      `<Message>${esc(message)}</Message></Error></Errors><RequestID>${requestId}</RequestID>` +
      `</Response>`,
    { status, headers: { "content-type": "text/xml;charset=UTF-8" } },
  );
}

function parseQuery(body: string): Map<string, string> {
  return new Map(new URLSearchParams(body));
}

type Nested = { [key: string]: Nested | Nested[] | string | undefined };

/** `Filter.1.Value.2=x` → `{ Filter: [{ Value: [, "x"] }] }` (EC2 numbers list members from 1). */
function nest(params: Map<string, string>): Nested {
  const root: Nested = {};
  for (const [key, value] of params) {
    const parts = key.split(".");
    // deno-lint-ignore no-explicit-any
    let at: any = root;
    for (const [k, part] of parts.entries()) {
      const last = k === parts.length - 1;
      const index = /^\d+$/.test(part) ? Number(part) - 1 : undefined;
      const next = parts[k + 1];
      const child = () => (next !== undefined && /^\d+$/.test(next) ? [] : {});
      if (index !== undefined) {
        if (last) at[index] = value;
        else at = at[index] ??= child();
      } else if (last) at[part] = value;
      else at = at[part] ??= child();
    }
  }
  return root;
}

// deno-lint-ignore no-explicit-any
function list(value: any): any[] {
  return Array.isArray(value) ? value.filter((v) => v !== undefined) : [];
}

// deno-lint-ignore no-explicit-any
function tags(value: any): { Key: string; Value: string }[] {
  return list(value).map((t) => ({ Key: t.Key, Value: t.Value ?? "" }));
}

/** The SDK command input the model takes, from the query's parameters. */
// deno-lint-ignore no-explicit-any
function sdkInput(action: string, q: any): Record<string, unknown> {
  const number = (v: unknown) => (v === undefined ? undefined : Number(v));
  switch (action) {
    case "RunInstances":
      return {
        ImageId: q.ImageId,
        InstanceType: q.InstanceType,
        LaunchTemplate: q.LaunchTemplate,
        MinCount: number(q.MinCount),
        MaxCount: number(q.MaxCount),
        UserData: q.UserData,
        TagSpecifications: list(q.TagSpecification).map((t) => ({
          ResourceType: t.ResourceType,
          Tags: tags(t.Tag),
        })),
      };
    case "CreateTags":
      return { Resources: list(q.ResourceId), Tags: tags(q.Tag) };
    case "DescribeInstances":
      return {
        Filters: list(q.Filter).map((f) => ({ Name: f.Name, Values: list(f.Value) })),
        MaxResults: number(q.MaxResults),
        NextToken: q.NextToken,
      };
    default: // Start, Stop, TerminateInstances
      return { InstanceIds: list(q.InstanceId) };
  }
}

function esc(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function el(name: string, value: unknown): string {
  if (value === undefined || value === null) return "";
  const text = value instanceof Date ? value.toISOString() : String(value);
  return `<${name}>${esc(text)}</${name}>`;
}

interface ModelInstance {
  InstanceId: string;
  ImageId?: string;
  InstanceType?: string;
  LaunchTime: Date;
  State: { Code: number; Name: string };
  StateTransitionReason: string;
  Tags: { Key: string; Value: string }[];
}

interface StateChange {
  InstanceId: string;
  CurrentState: { Code: number; Name: string };
  PreviousState: { Code: number; Name: string };
}

const stateXml = (name: string, s: { Code: number; Name: string }) =>
  `<${name}>${el("code", s.Code)}${el("name", s.Name)}</${name}>`;

function instanceXml(i: ModelInstance): string {
  return "<item>" + el("instanceId", i.InstanceId) + el("imageId", i.ImageId) +
    stateXml("instanceState", i.State) + el("reason", i.StateTransitionReason) +
    el("instanceType", i.InstanceType) + el("launchTime", i.LaunchTime) +
    `<tagSet>${
      i.Tags.map((t) => `<item>${el("key", t.Key)}${el("value", t.Value)}</item>`).join("")
    }</tagSet></item>`;
}

function reservationXml(r: { ReservationId: string; OwnerId: string; Instances: ModelInstance[] }) {
  return el("reservationId", r.ReservationId) + el("ownerId", r.OwnerId) + "<groupSet/>" +
    `<instancesSet>${r.Instances.map(instanceXml).join("")}</instancesSet>`;
}

// deno-lint-ignore no-explicit-any
function outputXml(action: string, out: any): string {
  switch (action) {
    case "RunInstances":
      return reservationXml(out);
    case "CreateTags":
      return "<return>true</return>";
    case "DescribeInstances":
      return `<reservationSet>${
        out.Reservations.map((r: never) => `<item>${reservationXml(r)}</item>`).join("")
      }</reservationSet>${el("nextToken", out.NextToken)}`;
    default: {
      const changes: StateChange[] = out.StartingInstances ?? out.StoppingInstances ??
        out.TerminatingInstances;
      return `<instancesSet>${
        changes.map((c) =>
          `<item>${el("instanceId", c.InstanceId)}${stateXml("currentState", c.CurrentState)}${
            stateXml("previousState", c.PreviousState)
          }</item>`
        ).join("")
      }</instancesSet>`;
    }
  }
}
