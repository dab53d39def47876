"""A Python client against the real binary: proves the proto, health, reflection and error
details work for a client that is not tonic.

Stubs are generated from proto/ with grpcio-tools into a temporary directory when the test
starts (nothing generated is committed). The test starts `zoloz-verdict demo` (the ZOLOZ
simulator and the service on loopback with fresh keys), calls every RPC, checks `buf curl`
against the same server through reflection, then stops the demo with SIGTERM and expects exit 0.

Run it through `bash ci/polyglot.sh`, which installs everything; by hand:

    ZOLOZ_VERDICT_BIN=target/release/zoloz-verdict BUF=target/buf/node_modules/.bin/buf \
        target/polyglot/venv/bin/python -m unittest discover -s tests/polyglot -v
"""

import base64
import importlib.resources
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

import grpc
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from grpc_status import rpc_status
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parents[2]
PROTO_DIR = ROOT / "proto"
PROTO_FILE = "zoloz/verdict/v1/verdict_service.proto"
SERVICE = "zoloz.verdict.v1.VerdictService"
BINARY = Path(os.environ.get("ZOLOZ_VERDICT_BIN", ROOT / "target/release/zoloz-verdict"))
BUF = os.environ.get("BUF", str(ROOT / "target/buf/node_modules/.bin/buf"))
CALL_TIMEOUT = 15  # seconds, per RPC
START_TIMEOUT = 30  # seconds until the demo prints its address and health says SERVING
STOP_TIMEOUT = 40  # seconds for the drain after SIGTERM (the default grace is 20 s)

# Filled in by setUpModule: the generated modules and the running demo.
pb = None
pb_grpc = None
_stubs_dir = None


def setUpModule():
    """Generates the Python stubs from the proto into a temporary directory."""
    global pb, pb_grpc, _stubs_dir
    _stubs_dir = tempfile.mkdtemp(prefix="zoloz-verdict-stubs-")
    well_known = importlib.resources.files("grpc_tools") / "_proto"
    code = protoc.main(
        [
            "grpc_tools.protoc",
            f"-I{PROTO_DIR}",
            f"-I{well_known}",
            f"--python_out={_stubs_dir}",
            f"--grpc_python_out={_stubs_dir}",
            str(PROTO_DIR / PROTO_FILE),
        ]
    )
    if code != 0:
        raise RuntimeError(f"grpc_tools.protoc failed with exit code {code}")
    sys.path.insert(0, _stubs_dir)
    from zoloz.verdict.v1 import verdict_service_pb2, verdict_service_pb2_grpc

    pb, pb_grpc = verdict_service_pb2, verdict_service_pb2_grpc


def tearDownModule():
    if _stubs_dir:
        shutil.rmtree(_stubs_dir, ignore_errors=True)


class Demo:
    """`zoloz-verdict demo` as a child process; its address is read from what it prints."""

    def __init__(self):
        if not BINARY.is_file():
            raise RuntimeError(f"{BINARY} not found: build it with cargo build --release")
        self.stderr = tempfile.TemporaryFile()
        # Port 0: the demo binds a free port and prints the address it got (no race with other
        # processes picking the same port).
        self.process = subprocess.Popen(
            [str(BINARY), "demo", "--listen", "127.0.0.1:0", "--log-level", "warn"],
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
        )
        self.lines = []
        self._address_seen = threading.Event()
        self.address = None
        threading.Thread(target=self._read_stdout, daemon=True).start()
        if not self._address_seen.wait(START_TIMEOUT) or self.address is None:
            self.kill()
            raise RuntimeError(f"the demo printed no service address:\n{self.output()}")

    def _read_stdout(self):
        for line in self.process.stdout:
            self.lines.append(line)
            match = re.match(r"\s*service\s+(\S+:\d+)\s", line)
            if match and self.address is None:
                self.address = match.group(1)
                self._address_seen.set()
        self._address_seen.set()  # EOF: unblock the waiter even without an address

    def output(self):
        self.stderr.seek(0)
        err = self.stderr.read().decode("utf-8", "replace")
        return "".join(self.lines) + ("\n--- stderr ---\n" + err if err else "")

    def stop(self):
        """SIGTERM, then the exit code (None if it had to be killed)."""
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def wait_serving(channel, deadline):
    """Polls the health service until the whole server says SERVING."""
    health = health_pb2_grpc.HealthStub(channel)
    last = None
    while time.monotonic() < deadline:
        try:
            reply = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
            if reply.status == health_pb2.HealthCheckResponse.SERVING:
                return
            last = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        except grpc.RpcError as e:
            last = e.code()
        time.sleep(0.2)
    raise RuntimeError(f"health never said SERVING (last: {last})")


class PolyglotTest(unittest.TestCase):
    """Every RPC, health, reflection and an error, from Python, against one demo process."""

    @classmethod
    def setUpClass(cls):
        cls.demo = Demo()
        cls.channel = grpc.insecure_channel(cls.demo.address)
        try:
            wait_serving(cls.channel, time.monotonic() + START_TIMEOUT)
        except Exception:
            cls.channel.close()
            cls.demo.kill()
            raise
        cls.client = pb_grpc.VerdictServiceStub(cls.channel)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()
        code = cls.demo.stop()
        if code != 0:
            raise AssertionError(
                f"the demo exited with {code} after SIGTERM, expected 0:\n{cls.demo.output()}"
            )
        print(f"\ndemo stopped by SIGTERM with exit code {code}", file=sys.stderr)

    def decision_name(self, result):
        return pb.Decision.Name(result.decision)

    # Health and reflection.

    def test_health_serving_for_server_and_service(self):
        health = health_pb2_grpc.HealthStub(self.channel)
        for service in ["", SERVICE]:
            with self.subTest(service=service):
                reply = health.Check(
                    health_pb2.HealthCheckRequest(service=service), timeout=CALL_TIMEOUT
                )
                self.assertEqual(reply.status, health_pb2.HealthCheckResponse.SERVING)

    def test_reflection_lists_and_describes_the_service(self):
        # Python's reflection client speaks v1alpha; the server offers v1 and v1alpha.
        stub = reflection_pb2_grpc.ServerReflectionStub(self.channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        replies = list(stub.ServerReflectionInfo(iter([request]), timeout=CALL_TIMEOUT))
        names = {s.name for s in replies[0].list_services_response.service}
        self.assertIn(SERVICE, names)
        self.assertIn("grpc.health.v1.Health", names)
        # The served descriptors describe the same API the stubs were generated from.
        pool_db = ProtoReflectionDescriptorDatabase(self.channel)
        from google.protobuf.descriptor_pool import DescriptorPool

        service = DescriptorPool(pool_db).FindServiceByName(SERVICE)
        methods = {m.name: m for m in service.methods}
        self.assertEqual(
            set(methods),
            {"GetVerificationResult", "WatchVerificationResult", "EvaluateVerificationResult"},
        )
        self.assertTrue(methods["WatchVerificationResult"].server_streaming)
        self.assertEqual(
            methods["GetVerificationResult"].output_type.full_name,
            "zoloz.verdict.v1.VerificationResult",
        )

    # The three RPCs.

    def test_get_approves_every_product(self):
        for product, slug in [
            (pb.PRODUCT_FACE_CAPTURE, "face-capture"),
            (pb.PRODUCT_FACE_COMPARE, "face-compare"),
            (pb.PRODUCT_CONNECT, "connect"),
            (pb.PRODUCT_ID_RECOGNITION, "id-recognition"),
        ]:
            transaction_id = f"sim-{slug}-approve"
            with self.subTest(transaction_id=transaction_id):
                result = self.client.GetVerificationResult(
                    pb.GetVerificationResultRequest(
                        product=product, transaction_id=transaction_id
                    ),
                    timeout=CALL_TIMEOUT,
                )
                self.assertEqual(self.decision_name(result), "DECISION_APPROVED")
                self.assertEqual(result.product, product)
                self.assertEqual(result.transaction_id, transaction_id)
                self.assertTrue(result.HasField("evaluate_time"))
                self.assertEqual(result.policy.name, "default")
                self.assertFalse(
                    [r for r in result.reasons if r.effect != pb.EFFECT_INFO],
                    "an approval carries informational reasons only",
                )

    def test_get_rejects_a_tampered_document(self):
        result = self.client.GetVerificationResult(
            pb.GetVerificationResultRequest(
                product=pb.PRODUCT_ID_RECOGNITION,
                transaction_id="sim-id-recognition-tampered",
            ),
            timeout=CALL_TIMEOUT,
        )
        self.assertEqual(self.decision_name(result), "DECISION_REJECTED")
        codes = [pb.ReasonCode.Name(r.code) for r in result.reasons]
        self.assertIn("REASON_CODE_DOC_TAMPERED", codes)
        tampered = next(r for r in result.reasons if r.code == pb.REASON_CODE_DOC_TAMPERED)
        self.assertEqual(tampered.effect, pb.EFFECT_REJECT)
        self.assertEqual(tampered.field, "/extInfo/spoofResult/TAMPER_CHECK")
        self.assertEqual(tampered.upstream_value, '"N"')

    def test_watch_streams_pending_then_approved_then_ends(self):
        stream = self.client.WatchVerificationResult(
            pb.WatchVerificationResultRequest(
                product=pb.PRODUCT_FACE_CAPTURE,
                transaction_id="sim-face-capture-pending-then-approve",
            ),
            timeout=CALL_TIMEOUT,
        )
        decisions = [self.decision_name(result) for result in stream]  # ends by itself
        self.assertEqual(decisions, ["DECISION_PENDING", "DECISION_APPROVED"])
        self.assertEqual(stream.code(), grpc.StatusCode.OK)

    def test_evaluate_a_body_the_caller_holds(self):
        body = (ROOT / "tests/fixtures/seeds/connect.response.json").read_bytes()
        result = self.client.EvaluateVerificationResult(
            pb.EvaluateVerificationResultRequest(product=pb.PRODUCT_CONNECT, response_body=body),
            timeout=CALL_TIMEOUT,
        )
        self.assertEqual(self.decision_name(result), "DECISION_APPROVED")
        self.assertEqual(result.upstream.result_code, "SUCCESS")
        self.assertEqual(result.upstream.product_state, "Success")
        self.assertAlmostEqual(result.signals.face_match.score, 89.1)

    def test_evaluate_with_the_face_capture_api_named(self):
        # The v1 seed has no faceCaptureResult: evidence from the v1 API, incomplete from v1a.
        body = (ROOT / "tests/fixtures/seeds/facecapture-v1.response.json").read_bytes()
        for api, decision in [
            (pb.FACE_CAPTURE_API_V1, "DECISION_APPROVED"),
            (pb.FACE_CAPTURE_API_V1A, "DECISION_REVIEW_REQUIRED"),
        ]:
            result = self.client.EvaluateVerificationResult(
                pb.EvaluateVerificationResultRequest(
                    product=pb.PRODUCT_FACE_CAPTURE, response_body=body, face_capture_api=api
                ),
                timeout=CALL_TIMEOUT,
            )
            self.assertEqual(self.decision_name(result), decision)

    # Errors: the code, and google.rpc.Status details from grpc-status-details-bin.

    def test_invalid_request_carries_error_info_and_bad_request(self):
        with self.assertRaises(grpc.RpcError) as caught:
            self.client.GetVerificationResult(
                pb.GetVerificationResultRequest(product=pb.PRODUCT_CONNECT, transaction_id=""),
                timeout=CALL_TIMEOUT,
            )
        error = caught.exception
        self.assertEqual(error.code(), grpc.StatusCode.INVALID_ARGUMENT)
        trailers = dict(error.trailing_metadata())
        self.assertIn("grpc-status-details-bin", trailers)
        status = rpc_status.from_call(error)  # decodes the trailer; checks code and message
        self.assertIsNotNone(status)
        infos, bad_requests = [], []
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                infos.append(info)
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                bad_requests.append(bad)
        self.assertEqual(len(infos), 1, status)
        self.assertEqual(infos[0].reason, "INVALID_REQUEST")
        self.assertEqual(infos[0].domain, "zoloz-verdict")
        fields = [v.field for bad in bad_requests for v in bad.field_violations]
        self.assertIn("transaction_id", fields)

    # buf curl, through reflection: the README's examples.

    def buf_curl(self, method, body):
        if not Path(BUF).is_file():
            if os.environ.get("CI"):
                self.fail(f"buf not found at {BUF}")
            self.skipTest(f"buf not found at {BUF} (ci/polyglot.sh installs it)")
        completed = subprocess.run(
            [
                BUF,
                "curl",
                "--protocol",
                "grpc",
                "--http2-prior-knowledge",
                "--timeout",
                f"{CALL_TIMEOUT}s",
                "-d",
                json.dumps(body),
                f"http://{self.demo.address}/{SERVICE}/{method}",
            ],
            capture_output=True,
            text=True,
            timeout=CALL_TIMEOUT + 15,
        )
        self.assertEqual(completed.returncode, 0, completed.stderr)
        # Streams print one JSON object per message, one after the other.
        decoder, text, messages = json.JSONDecoder(), completed.stdout.strip(), []
        while text:
            message, end = decoder.raw_decode(text)
            messages.append(message)
            text = text[end:].lstrip()
        return messages

    def test_buf_curl_get(self):
        [result] = self.buf_curl(
            "GetVerificationResult",
            {"product": "PRODUCT_FACE_COMPARE", "transactionId": "sim-face-compare-mismatch"},
        )
        self.assertEqual(result["decision"], "DECISION_REJECTED")
        self.assertEqual(result["reasons"][0]["code"], "REASON_CODE_FACE_MISMATCH")

    def test_buf_curl_watch(self):
        results = self.buf_curl(
            "WatchVerificationResult",
            {
                "product": "PRODUCT_ID_RECOGNITION",
                "transactionId": "sim-id-recognition-pending-then-approve",
            },
        )
        decisions = [r["decision"] for r in results]
        self.assertEqual(decisions, ["DECISION_PENDING", "DECISION_APPROVED"])

    def test_buf_curl_evaluate(self):
        body = (ROOT / "tests/fixtures/seeds/connect.response.json").read_bytes()
        [result] = self.buf_curl(
            "EvaluateVerificationResult",
            {"product": "PRODUCT_CONNECT", "responseBody": base64.b64encode(body).decode()},
        )
        self.assertEqual(result["decision"], "DECISION_APPROVED")


if __name__ == "__main__":
    unittest.main()
