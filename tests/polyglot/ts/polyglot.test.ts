// A TypeScript client against the real binary, built the way the README's TypeScript section
// says: stubs from protoc-gen-es v2 (target=ts), called through Connect-ES's gRPC transport.
// It proves that the generated code compiles under `tsc --strict` and that every RPC, the
// open enums and the error details work for a Node client.
//
// ci/polyglot.sh installs the packages (tests/polyglot/ts/package.json) into target/polyglot/ts,
// generates the stubs there, compiles this file and runs it with `node --test`. It starts
// `zoloz-verdict demo` (the simulator and the service on loopback, fresh keys), and stops it
// with SIGTERM at the end, expecting exit code 0. ZOLOZ_VERDICT_BIN names the binary and
// ZOLOZ_VERDICT_ROOT the checkout (for the fixture).

import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { type Client, Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";

import { BadRequestSchema, ErrorInfoSchema } from "./gen/google/rpc/error_details_pb";
import {
  Decision,
  Effect,
  Product,
  ReasonCode,
  type VerificationResult,
  VerdictService,
} from "./gen/zoloz/verdict/v1/verdict_service_pb";

const BINARY = required("ZOLOZ_VERDICT_BIN");
const ROOT = required("ZOLOZ_VERDICT_ROOT");
const CALL_TIMEOUT_MS = 15_000;
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 40_000; // the drain after SIGTERM (the default grace is 20 s)

function required(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set (run this through ci/polyglot.sh)`);
  }
  return value;
}

let demo: ChildProcess;
let output = "";
let client: Client<typeof VerdictService>;

/** Starts the demo and resolves with the service address it prints. */
function startDemo(): Promise<string> {
  demo = spawn(BINARY, ["demo", "--listen", "127.0.0.1:0", "--log-level", "warn"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the demo printed no service address:\n${output}`)),
      START_TIMEOUT_MS,
    );
    const read = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      const match = /^\s*service\s+(\S+:\d+)\s/m.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    };
    demo.stdout?.on("data", read);
    demo.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    demo.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the demo exited with ${code} before it listened:\n${output}`));
    });
  });
}

before(async () => {
  const address = await startDemo();
  client = createClient(
    VerdictService,
    createGrpcTransport({ baseUrl: `http://${address}`, defaultTimeoutMs: CALL_TIMEOUT_MS }),
  );
  // Ready when a call gets through (the server answers UNAVAILABLE until then).
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    try {
      await client.getVerificationResult({
        product: Product.CONNECT,
        transactionId: "sim-connect-approve",
      });
      return;
    } catch (error) {
      if (Date.now() > deadline || ConnectError.from(error).code !== Code.Unavailable) {
        throw error;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
});

after(async () => {
  if (demo.exitCode !== null) {
    assert.fail(`the demo exited early with ${demo.exitCode}:\n${output}`);
  }
  const exited = new Promise<number | null>((resolve) => demo.once("exit", resolve));
  demo.kill("SIGTERM");
  const timeout = new Promise<"timeout">((resolve) =>
    setTimeout(() => resolve("timeout"), STOP_TIMEOUT_MS).unref(),
  );
  const code = await Promise.race([exited, timeout]);
  if (code === "timeout") {
    demo.kill("SIGKILL");
  }
  assert.equal(code, 0, `the demo did not exit 0 after SIGTERM:\n${output}`);
});

/** The decision's enum name, so that a failure reads DECISION_REJECTED rather than 3. */
function decision(result: VerificationResult): string {
  return `DECISION_${Decision[result.decision]}`;
}

test("Get approves every product", async () => {
  const products: [Product, string][] = [
    [Product.FACE_CAPTURE, "face-capture"],
    [Product.FACE_COMPARE, "face-compare"],
    [Product.CONNECT, "connect"],
    [Product.ID_RECOGNITION, "id-recognition"],
  ];
  for (const [product, slug] of products) {
    const transactionId = `sim-${slug}-approve`;
    const result = await client.getVerificationResult({ product, transactionId });
    assert.equal(decision(result), "DECISION_APPROVED", transactionId);
    assert.equal(result.product, product);
    assert.equal(result.transactionId, transactionId);
    assert.ok(result.evaluateTime, "evaluate_time is set");
    assert.equal(result.policy?.name, "default");
    assert.deepEqual(
      result.reasons.filter((r) => r.effect !== Effect.INFO),
      [],
      "an approval carries informational reasons only",
    );
  }
});

test("Get rejects a tampered document, with the reason and its evidence", async () => {
  const result = await client.getVerificationResult({
    product: Product.ID_RECOGNITION,
    transactionId: "sim-id-recognition-tampered",
  });
  assert.equal(decision(result), "DECISION_REJECTED");
  const tampered = result.reasons.find((r) => r.code === ReasonCode.DOC_TAMPERED);
  assert.ok(tampered, `no DOC_TAMPERED among ${result.reasons.map((r) => r.code)}`);
  assert.equal(tampered.effect, Effect.REJECT);
  assert.equal(tampered.field, "/extInfo/spoofResult/TAMPER_CHECK");
  assert.equal(tampered.upstreamValue, '"N"');
});

test("Watch streams PENDING, then APPROVED, then ends", async () => {
  const decisions: string[] = [];
  for await (const result of client.watchVerificationResult({
    product: Product.FACE_CAPTURE,
    transactionId: "sim-face-capture-pending-then-approve",
  })) {
    decisions.push(decision(result));
  }
  assert.deepEqual(decisions, ["DECISION_PENDING", "DECISION_APPROVED"]);
});

test("Evaluate judges a body the caller holds", async () => {
  const body = readFileSync(join(ROOT, "tests/fixtures/seeds/connect.response.json"));
  const result = await client.evaluateVerificationResult({
    product: Product.CONNECT,
    responseBody: new Uint8Array(body),
  });
  assert.equal(decision(result), "DECISION_APPROVED");
  assert.equal(result.upstream?.resultCode, "SUCCESS");
  assert.equal(result.upstream?.productState, "Success");
  assert.ok(Math.abs((result.signals?.faceMatch?.score ?? 0) - 89.1) < 1e-6);
});

test("an invalid request is INVALID_ARGUMENT with ErrorInfo and BadRequest", async () => {
  const error = await client
    .getVerificationResult({ product: Product.CONNECT, transactionId: "" })
    .then(
      () => assert.fail("an empty transaction id was answered"),
      (e: unknown) => ConnectError.from(e),
    );
  assert.equal(error.code, Code.InvalidArgument);
  // The README's recipe: the details come from grpc-status-details-bin.
  const infos = error.findDetails(ErrorInfoSchema);
  assert.equal(infos.length, 1, `details: ${JSON.stringify(error.details)}`);
  assert.equal(infos[0].reason, "INVALID_REQUEST");
  assert.equal(infos[0].domain, "zoloz-verdict");
  const fields = error
    .findDetails(BadRequestSchema)
    .flatMap((bad) => bad.fieldViolations.map((v) => v.field));
  assert.ok(fields.includes("transaction_id"), `field violations: ${fields}`);
});
