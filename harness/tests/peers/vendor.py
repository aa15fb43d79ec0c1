#!/usr/bin/python3
"""A vendor's EPJ, independent of the harness: Qpid Proton (Debian's python3-qpid-proton) for
AMQP and the openssl command line for CMS. It reads `endpoints.json` as a vendor would.

Run by harness/tests/serve_*.rs with Debian's /usr/bin/python3. Prints one JSON object per
line on stdout; exits non-zero on an unexpected failure.

    vendor.py submit ENDPOINTS KNR TO_HER MSGHEAD_FILE
        sign MSGHEAD_FILE with the kommune's signing certificate, encrypt it for the
        register (openssl cms -sign | openssl cms -encrypt -aes256, -binary -nodetach
        -outform DER), send it to TO_HER_async with the NHN properties, wait for the answer
        on the kommune's _async queue, decrypt and verify it with openssl and print it.
    vendor.py missing-to ENDPOINTS KNR TO_HER
        send a message without the toHerId property and print what arrives on the kommune's
        _error queue.
"""

import json
import os
import subprocess
import sys
import tempfile
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

from proton import Message
from proton.utils import BlockingConnection

TIMEOUT = 60
CONTENT_TYPE = "application/pkcs7-mime; smime-type=signed-and-enveloped-data"
APPREC_NS = "http://www.kith.no/xmlstds/apprec/2012-02-15"


def load(endpoints_path, knr):
    with open(endpoints_path) as f:
        ep = json.load(f)
    kommune = next(k for k in ep["kommuner"] if k["kommunenummer"] == knr)
    return ep, kommune


def connect(ep, kommune):
    url = "amqp://%s:%s@%s:%d" % (kommune["username"], kommune["password"],
                                  ep["amqp"]["host"], ep["amqp"]["port"])
    return BlockingConnection(url, timeout=TIMEOUT, allowed_mechs="PLAIN",
                              container_id="vendor-" + kommune["kommunenummer"])


def timestamp():
    # yyyy-MM-ddTHH:mm:ssK, e.g. 2019-01-03T08:15:00+01:00
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def nhn_message(msg_id, ep, kommune, to_her, body, with_to=True):
    props = {
        "fromHerId": str(kommune["her_id"]),
        "applicationTimeStamp": timestamp(),
    }
    if with_to:
        props["toHerId"] = str(to_her)
    m = Message(
        id=msg_id,
        correlation_id=msg_id,
        address="%s_async" % to_her,
        reply_to=kommune["queues"]["async"],
        subject="IPLOS",
        content_type=CONTENT_TYPE,
        properties=props,
        body=body,
    )
    m.inferred = True  # bytes go out as one data section
    return m


def send(conn, ep, to_her, message):
    sender = conn.create_sender("/exchange/%s/%s_async" % (ep["amqp"]["namespace"], to_her),
                                name="vendor-send")
    delivery = sender.send(message)
    sender.close()
    return str(delivery.remote_state)


def receive_one(conn, queue):
    receiver = conn.create_receiver("/amq/queue/%s" % queue, name="vendor-recv-" + queue, credit=1)
    msg = receiver.receive(timeout=TIMEOUT)
    receiver.accept()
    receiver.close()
    return msg


def openssl(*args, data=None):
    r = subprocess.run(["openssl", *args], input=data, capture_output=True)
    if r.returncode != 0:
        raise SystemExit("openssl %s failed: %s" % (" ".join(args), r.stderr.decode(errors="replace")))
    return r.stdout


def submit(endpoints_path, knr, to_her, msghead_file):
    ep, kommune = load(endpoints_path, knr)
    certs = kommune["certificates"]
    with open(msghead_file, "rb") as f:
        msghead = f.read()
    signed = openssl("cms", "-sign", "-binary", "-nodetach", "-md", "sha256", "-outform", "DER",
                     "-signer", certs["signing_cert"], "-inkey", certs["signing_key"], data=msghead)
    payload = openssl("cms", "-encrypt", "-binary", "-aes256", "-outform", "DER",
                      ep["pki"]["register_encryption_cert"], data=signed)
    msg_id = str(uuid.uuid4())
    conn = connect(ep, kommune)
    state = send(conn, ep, to_her, nhn_message(msg_id, ep, kommune, to_her, payload))
    print(json.dumps({"sent": msg_id, "state": state, "bytes": len(payload)}), flush=True)
    answer = receive_one(conn, kommune["queues"]["async"])
    conn.close()
    body = answer.body
    if isinstance(body, memoryview):
        body = body.tobytes()
    with tempfile.TemporaryDirectory() as d:
        enc = os.path.join(d, "apprec.der")
        with open(enc, "wb") as f:
            f.write(bytes(body))
        inner = openssl("cms", "-decrypt", "-binary", "-inform", "DER", "-in", enc,
                        "-recip", certs["encryption_cert"], "-inkey", certs["encryption_key"])
        xml = openssl("cms", "-verify", "-binary", "-inform", "DER", "-CAfile", ep["pki"]["ca"],
                      "-certfile", ep["pki"]["register_signing_cert"], data=inner)
    root = ET.fromstring(xml)
    status = root.find("{%s}Status" % APPREC_NS)
    print(json.dumps({
        "answer": {
            "correlation_id": str(answer.correlation_id),
            "subject": answer.subject,
            "content_type": str(answer.content_type),
            "properties": {str(k): str(v) for k, v in (answer.properties or {}).items()},
            "status": status.get("V") if status is not None else None,
            "apprec": xml.decode("utf-8"),
        }
    }), flush=True)


def missing_to(endpoints_path, knr, to_her):
    ep, kommune = load(endpoints_path, knr)
    msg_id = str(uuid.uuid4())
    conn = connect(ep, kommune)
    state = send(conn, ep, to_her, nhn_message(msg_id, ep, kommune, to_her, b"\x30\x80 not even CMS",
                                               with_to=False))
    print(json.dumps({"sent": msg_id, "state": state}), flush=True)
    err = receive_one(conn, kommune["queues"]["error"])
    conn.close()
    print(json.dumps({
        "error": {
            "correlation_id": str(err.correlation_id) if err.correlation_id is not None else None,
            "properties": {str(k): str(v) for k, v in (err.properties or {}).items()},
            "body": None if err.body is None else repr(err.body),
        }
    }), flush=True)


def main(argv):
    cmd = argv[1]
    if cmd == "submit":
        submit(argv[2], argv[3], int(argv[4]), argv[5])
    elif cmd == "missing-to":
        missing_to(argv[2], argv[3], int(argv[4]))
    else:
        raise SystemExit("unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
