/**
 * The IAM documents against the code: every SDK command the adapters send is known, each role's
 * actions are exactly those its process sends (derived from the source, not listed by hand), and
 * the files in deploy/iam/ are what the generator makes. What only a real account can check: that
 * IAM accepts the documents (`aws iam create-policy --policy-document`), that the condition keys
 * evaluate as documented (an app instance stopping another instance must get UnauthorizedOperation),
 * and that the roles suffice end to end.
 */
import assert from "node:assert/strict";
import {
  DEPLOYMENT_TAG,
  fillTemplate,
  forIam,
  IAM_DOCUMENT_NAMES,
  iamDocuments,
  iamTemplates,
  type PolicyDocument,
  SDK_COMMANDS,
} from "./aws_iam.ts";

const ROOT = new URL("../", import.meta.url);
const read = (path: string) => Deno.readTextFileSync(new URL(path, ROOT));
const TARGET = { id: "1234567890", region: "us-east-1", account: "123456789012" };

/** Source without comment lines (so a method named in a comment is not a call). */
function code(path: string): string {
  return read(path).split("\n").filter((line) => !/^\s*(\*|\/\/|\/\*\*)/.test(line)).join("\n");
}

function runtimeFiles(dir: string): string[] {
  return [...Deno.readDirSync(new URL(dir, ROOT))]
    .filter((e) => e.isFile && e.name.endsWith(".ts") && !e.name.endsWith("_test.ts"))
    .filter((e) => !e.name.includes("bench"))
    .map((e) => `${dir}${e.name}`)
    .sort();
}

/** Every SDK command constructed in a text. */
function commandsIn(text: string): Set<string> {
  return new Set([...text.matchAll(/new (\w+Command|Upload)\(/g)].map((m) => m[1]));
}

/**
 * Per method of the class in an adapter file, the SDK commands it sends, following calls to
 * other methods of the same class (`this.#url(`, `this.head(`). The files are `deno fmt`ed:
 * methods start at two spaces of indentation.
 */
function methodCommands(path: string): Map<string, Set<string>> {
  const bodies = new Map<string, string>();
  let current: string | undefined;
  for (const line of code(path).split("\n")) {
    const start = /^ {2}(?:async |static |get )?(#?\w+)(?:<[^>]*>)?\(/.exec(line);
    if (start) current = start[1];
    else if (/^\S/.test(line)) current = undefined;
    if (current !== undefined) bodies.set(current, `${bodies.get(current) ?? ""}\n${line}`);
  }
  const resolved = new Map<string, Set<string>>();
  const resolve = (name: string, seen: Set<string>): Set<string> => {
    const body = bodies.get(name) ?? "";
    const out = commandsIn(body);
    for (const m of body.matchAll(/this\.(#?\w+)\(/g)) {
      if (seen.has(m[1]) || !bodies.has(m[1])) continue;
      seen.add(m[1]);
      for (const c of resolve(m[1], seen)) out.add(c);
    }
    return out;
  };
  for (const name of bodies.keys()) resolved.set(name, resolve(name, new Set([name])));
  return resolved;
}

const ADAPTERS = {
  blobs: methodCommands("cloud/aws/s3_blob_store.ts"),
  queue: methodCommands("cloud/aws/sqs_message_queue.ts"),
  fleet: methodCommands("cloud/aws/ec2_fleet.ts"),
};

/** What a receiver's name says it is (`deps.requestQueue`, `this.#blobs`, `backend.fleet`). */
const RECEIVERS: Readonly<Record<string, keyof typeof ADAPTERS>> = {
  blobs: "blobs",
  queue: "queue",
  requestQueue: "queue",
  fleet: "fleet",
};

/**
 * The modules each role's process runs that call the ports. Web: `serve` composes the web tier
 * (web/), the controller, the dead-letter sweep and the request records over S3
 * (cloud/record_store.ts), and creates the resources (service/backend.ts ensureResources). App:
 * the worker loop, its readiness report and self-stop (worker/), and its entry point.
 */
const ROLE_MODULES = {
  "web-role-policy": [
    ...runtimeFiles("web/"),
    ...runtimeFiles("controller/"),
    "service/stack.ts",
    "service/dead_letters.ts",
    "service/backend.ts",
    "cloud/record_store.ts",
  ],
  "app-role-policy": [...runtimeFiles("worker/"), "service/worker.ts"],
} as const;

/** The IAM actions a role's modules need, from their port calls and the adapters' commands. */
function derivedActions(modules: readonly string[]): { actions: Set<string>; calls: string[] } {
  const actions = new Set<string>();
  const calls = new Set<string>();
  for (const path of modules) {
    for (const m of code(path).matchAll(/\b(\w+)\.(?=(\w+)\b)/g)) {
      const port = RECEIVERS[m[1].replace(/^#/, "")];
      const commands = port === undefined ? undefined : ADAPTERS[port].get(m[2]);
      if (commands === undefined || m[2].startsWith("#")) continue;
      calls.add(`${port}.${m[2]}`);
      for (const command of commands) {
        for (const action of SDK_COMMANDS[command]) actions.add(action);
      }
    }
  }
  return { actions, calls: [...calls].sort() };
}

function policyActions(document: PolicyDocument): Set<string> {
  return new Set(document.Statement.flatMap((s) => s.Action));
}

Deno.test("SDK_COMMANDS lists exactly the SDK commands the AWS adapters construct", () => {
  const found = new Set<string>();
  for (const path of runtimeFiles("cloud/aws/")) {
    for (const c of commandsIn(code(path))) found.add(c);
  }
  assert.deepEqual([...found].sort(), Object.keys(SDK_COMMANDS).sort());
});

Deno.test("each role policy grants exactly the actions its process's port calls send", () => {
  const docs = iamDocuments(TARGET);
  for (const [name, modules] of Object.entries(ROLE_MODULES)) {
    const { actions, calls } = derivedActions(modules);
    assert.ok(calls.length > 3, `${name}: found the port calls (${calls.join(", ")})`);
    const granted = policyActions(docs[name as keyof typeof docs]);
    assert.deepEqual([...granted].sort(), [...actions].sort(), `${name}, from ${calls.join(", ")}`);
  }
});

Deno.test("the derivation sees what the worker and the web tier really call", () => {
  // Guards the scanner itself: if it silently found nothing, the comparison above would be weak.
  const app = derivedActions(ROLE_MODULES["app-role-policy"]);
  for (const call of ["queue.receive", "queue.send", "queue.changeVisibility", "blobs.get"]) {
    assert.ok(app.calls.includes(call), `worker calls ${call}: ${app.calls}`);
  }
  assert.ok(app.calls.includes("fleet.stop") && app.calls.includes("fleet.markWorker"));
  assert.ok(!app.actions.has("s3:CreateBucket") && !app.actions.has("ec2:RunInstances"));
  const web = derivedActions(ROLE_MODULES["web-role-policy"]);
  for (const call of ["fleet.create", "fleet.start", "queue.counts", "blobs.ensureBucket"]) {
    assert.ok(web.calls.includes(call), `web calls ${call}: ${web.calls}`);
  }
});

Deno.test("every IAM document is version 2012-10-17 JSON with no wildcard action", () => {
  for (const [name, doc] of Object.entries(iamDocuments(TARGET))) {
    const parsed = JSON.parse(JSON.stringify(forIam(doc)));
    assert.equal(parsed.Version, "2012-10-17", name);
    assert.ok(parsed.Statement.length > 0, name);
    for (const s of parsed.Statement) {
      assert.equal(s.Effect, "Allow", `${name} ${s.Sid}`);
      for (const action of s.Action) {
        assert.match(action, /^[a-z0-9]+:[A-Za-z]+$/, `${name} ${s.Sid}: ${action}`);
      }
    }
  }
});

Deno.test("Resource * appears only for DescribeInstances, which has no resource-level permissions", () => {
  for (const [name, doc] of Object.entries(iamDocuments(TARGET))) {
    for (const s of doc.Statement) {
      const resources = s.Resource === undefined ? [] : [s.Resource].flat();
      if (resources.includes("*")) {
        assert.deepEqual(s.Action, ["ec2:DescribeInstances"], `${name} ${s.Sid}`);
      }
      for (const r of resources) {
        if (r !== "*") assert.match(r, /^arn:aws:(s3|sqs|ec2|iam):/, `${name} ${s.Sid}: ${r}`);
      }
    }
  }
});

Deno.test("the app role touches only its deployment's resources and stops only itself", () => {
  const doc = iamDocuments(TARGET)["app-role-policy"];
  const text = JSON.stringify(doc.Statement);
  assert.ok(!text.includes("requests-bucket"), "the worker keeps no request records");
  const byAction = (action: string) => doc.Statement.filter((s) => s.Action.includes(action));
  assert.deepEqual(byAction("s3:PutObject").flatMap((s) => s.Resource), [
    "arn:aws:s3:::1234567890-out-bucket/*",
  ]);
  for (const action of ["ec2:StopInstances", "ec2:CreateTags"]) {
    for (const s of byAction(action)) {
      assert.deepEqual(s.Condition?.ArnEquals, {
        "ec2:SourceInstanceARN": "arn:aws:ec2:us-east-1:123456789012:instance/${ec2:InstanceID}",
      });
      assert.deepEqual(s.Condition?.StringEquals, {
        [`aws:ResourceTag/${DEPLOYMENT_TAG}`]: "1234567890",
      });
    }
  }
  assert.deepEqual(byAction("sqs:ReceiveMessage").flatMap((s) => s.Resource), [
    "arn:aws:sqs:us-east-1:123456789012:1234567890-req-queue",
  ]);
});

Deno.test("the web role starts, stops and launches only what carries its deployment tag", () => {
  const doc = iamDocuments(TARGET)["web-role-policy"];
  for (const s of doc.Statement) {
    if (!s.Action.some((a) => a.startsWith("ec2:")) || s.Resource === "*") continue;
    const conditions = JSON.stringify(s.Condition ?? {});
    assert.ok(
      conditions.includes('"1234567890"') || conditions.includes("RunInstances") ||
        conditions.includes("ec2:LaunchTemplate"),
      `${s.Sid} is conditioned on the deployment, on launch, or on the template: ${conditions}`,
    );
  }
  const pass = doc.Statement.filter((s) => s.Action.includes("iam:PassRole"));
  assert.deepEqual(pass.flatMap((s) => s.Resource), [
    "arn:aws:iam::123456789012:role/1234567890-app-role",
  ]);
});

Deno.test("deploy/iam/ holds the generated templates, which fill to the generated documents", () => {
  const templates = iamTemplates();
  for (const name of IAM_DOCUMENT_NAMES) {
    const file = JSON.parse(read(`deploy/iam/${name}.json`));
    assert.deepEqual(
      file,
      templates[name],
      `deploy/iam/${name}.json is stale: deno task aws iam --write`,
    );
    assert.deepEqual(fillTemplate(file, TARGET), iamDocuments(TARGET)[name]);
  }
  assert.throws(
    () => fillTemplate({ ...templates["web-role-policy"], _comment: ["${Nope}"] }, TARGET),
    /\$\{Nope\}/,
  );
});
