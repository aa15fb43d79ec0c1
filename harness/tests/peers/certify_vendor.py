#!/usr/bin/python3
"""A vendor's EPJ in a certification session (`iplos-harness certify run`), independent of the
harness: Qpid Proton (Debian's python3-qpid-proton) for AMQP over TLS, the openssl command line
for CMS, ElementTree for the IPLOS export and a MsgHead written here.

    certify_vendor.py DIR

DIR is the session directory. The script reads `run/endpoints.json` (as a vendor reads the
harness's endpoints), follows the session's phases through its `status.json` and acts in the
content phases: the test submission to KPR Validering, then the initial load, the year's events
and the corrections to KPR. Its "EPJ export" is the session's answer key cut into those parts
(the first `initial_load` notifications are the initial load). Prints one JSON object per line.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime, timezone

from proton import Message, SSLDomain
from proton.utils import BlockingConnection

IPLOS_NS = "http://www.npr.no/xmlstds/56_0_0_ipl"
MSGHEAD_NS = "http://www.kith.no/xmlstds/msghead/2006-05-24"
APPREC_NS = "http://www.kith.no/xmlstds/apprec/2012-02-15"
CONTENT_TYPE = "application/pkcs7-mime; smime-type=signed-and-enveloped-data"
OID_9051 = "2.16.578.1.12.4.1.1.9051"


def log(**kw):
    print(json.dumps(kw), flush=True)


def openssl(*args, data=None):
    r = subprocess.run(["openssl", *args], input=data, capture_output=True)
    if r.returncode != 0:
        raise SystemExit("openssl %s failed: %s" % (" ".join(args), r.stderr.decode(errors="replace")))
    return r.stdout


def timestamp():
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def status(ep):
    try:
        with urllib.request.urlopen(ep["status"], timeout=5) as r:
            return json.load(r)
    except OSError:
        return None


class Export:
    """The EPJ's export: the answer key, as a vendor's system would produce it."""

    def __init__(self, d, initial):
        self.ns = None
        self.ordinary = ET.parse(os.path.join(d, "harness", "expected", "melding.xml"))
        self.corrections = ET.parse(os.path.join(d, "harness", "expected", "korreksjoner.xml"))
        self.initial = initial

    @staticmethod
    def notifications(root):
        return [c for c in list(root) if c.tag.endswith("}Notifikasjon") or c.tag == "Notifikasjon"]

    def part(self, which):
        tree = self.corrections if which == "corrections" else self.ordinary
        root = ET.fromstring(ET.tostring(tree.getroot()))
        notes = self.notifications(root)
        if which == "initial":
            drop = notes[self.initial:]
        elif which == "year":
            drop = notes[:self.initial]
        else:
            drop = []
        for n in drop:
            root.remove(n)
        return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8")


def organisation(name, her):
    return ("<mh:Organisation><mh:OrganisationName>%s</mh:OrganisationName><mh:Ident><mh:Id>%d</mh:Id>"
            "<mh:TypeId V=\"HER\" S=\"%s\" DN=\"HER-id\"/></mh:Ident></mh:Organisation>" % (name, her, OID_9051))


def msghead(msg_id, sender_name, sender_her, receiver_her, iplos):
    body = iplos.decode("utf-8")
    if body.startswith("<?xml"):
        body = body[body.index("?>") + 2:].lstrip()
    now = timestamp()
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<mh:MsgHead xmlns:mh=\"%s\"><mh:MsgInfo>"
            "<mh:Type V=\"IPLOS\" DN=\"IPLOS-melding til KPR\"/><mh:MIGversion>v1.2 2006-05-24</mh:MIGversion>"
            "<mh:GenDate>%s</mh:GenDate><mh:MsgId>%s</mh:MsgId>"
            "<mh:Sender>%s</mh:Sender><mh:Receiver>%s</mh:Receiver></mh:MsgInfo>"
            "<mh:Document><mh:RefDoc><mh:IssueDate V=\"%s\"/><mh:MsgType V=\"XML\" DN=\"XML-instans\"/>"
            "<mh:MimeType>text/xml</mh:MimeType><mh:Content>%s</mh:Content></mh:RefDoc></mh:Document>"
            "</mh:MsgHead>\n" % (MSGHEAD_NS, now, msg_id, organisation(sender_name, sender_her),
                                  organisation("Kommunalt pasient- og brukerregister", receiver_her),
                                  now, body)).encode("utf-8")


class Vendor:
    def __init__(self, d):
        self.dir = d
        with open(os.path.join(d, "vendor", "session.json")) as f:
            self.session = json.load(f)
        path = os.path.join(d, "run", "endpoints.json")
        for _ in range(600):
            if os.path.exists(path):
                break
            time.sleep(0.1)
        with open(path) as f:
            self.ep = json.load(f)
        self.her = self.ep["her_id"]
        pki = self.ep["pki"]
        self.signing = (os.path.join(pki, str(self.her), "signing.pem"),
                        os.path.join(pki, str(self.her), "signing.key.pem"))
        self.encryption = (os.path.join(pki, str(self.her), "encryption.pem"),
                           os.path.join(pki, str(self.her), "encryption.key.pem"))
        register = os.path.join(pki, "register", str(self.ep["register_production_her_id"]))
        self.register_cert = os.path.join(register, "encryption.pem")
        self.register_signing = os.path.join(register, "signing.pem")
        self.pki_ca = os.path.join(pki, "ca.pem")
        self.export = Export(d, self.session.get("initial_load", 0))

    def connect(self):
        a = self.ep["amqps"]
        domain = SSLDomain(SSLDomain.MODE_CLIENT)
        domain.set_trusted_ca_db(a["ca"])
        domain.set_peer_authentication(SSLDomain.VERIFY_PEER_NAME)
        url = "amqps://%s:%s@%s:%d" % (a["username"], a["password"], a["host"], a["port"])
        # The broker's certificate names localhost and 127.0.0.1; Proton checks the peer name
        # against DNS names only, so the virtual host (used for SNI and the check) is localhost.
        return BlockingConnection(url, timeout=60, ssl_domain=domain, allowed_mechs="PLAIN",
                                  virtual_host="localhost",
                                  container_id="python-vendor-%d" % self.her)

    def send(self, to_her, iplos):
        msg_id = str(uuid.uuid4())
        head = msghead(str(uuid.uuid4()), "%s kommune" % self.session["kommune_name"], self.her, to_her, iplos)
        signed = openssl("cms", "-sign", "-binary", "-nodetach", "-md", "sha256", "-outform", "DER",
                         "-signer", self.signing[0], "-inkey", self.signing[1], data=head)
        payload = openssl("cms", "-encrypt", "-binary", "-aes256", "-outform", "DER",
                          os.path.join(self.ep["pki"], str(to_her), "encryption.pem"), data=signed)
        conn = self.connect()
        sender = conn.create_sender("/exchange/%s/%d_async" % (self.ep["amqps"]["namespace"], to_her),
                                    name="vendor-send")
        m = Message(id=msg_id, correlation_id=msg_id, address="%d_async" % to_her,
                    reply_to="%d_async" % self.her, subject="IPLOS", content_type=CONTENT_TYPE,
                    properties={"fromHerId": str(self.her), "toHerId": str(to_her),
                                "applicationTimeStamp": timestamp()},
                    body=payload)
        m.inferred = True
        delivery = sender.send(m)
        sender.close()
        receiver = conn.create_receiver("/amq/queue/%d_async" % self.her, name="vendor-recv", credit=1)
        answer = receiver.receive(timeout=60)
        receiver.accept()
        receiver.close()
        conn.close()
        body = answer.body
        if isinstance(body, memoryview):
            body = body.tobytes()
        with tempfile.TemporaryDirectory() as t:
            enc = os.path.join(t, "apprec.der")
            with open(enc, "wb") as f:
                f.write(bytes(body))
            inner = openssl("cms", "-decrypt", "-binary", "-inform", "DER", "-in", enc,
                            "-recip", self.encryption[0], "-inkey", self.encryption[1])
            xml = openssl("cms", "-verify", "-binary", "-inform", "DER", "-CAfile", self.pki_ca,
                          "-certfile", os.path.join(self.ep["pki"], str(to_her), "signing.pem"),
                          data=inner)
        st = ET.fromstring(xml).find("{%s}Status" % APPREC_NS)
        log(sent=msg_id, to=to_her, state=str(delivery.remote_state),
            correlation_id=str(answer.correlation_id), apprec_status=st.get("V") if st is not None else None)

    def act(self, phase):
        v = self.ep["register_validation_her_id"]
        p = self.ep["register_production_her_id"]
        if phase == "test-submission":
            self.send(v, self.export.part("all"))
        elif phase == "initial-load":
            self.send(p, self.export.part("initial"))
        elif phase == "year-events":
            self.send(p, self.export.part("year"))
        elif phase == "corrections":
            self.send(p, self.export.part("corrections"))
        else:
            log(phase=phase, action="none")


def main(d):
    ET.register_namespace("", IPLOS_NS)
    v = Vendor(d)
    done = set()
    gone_since = None
    while True:
        s = status(v.ep)
        if s is None:
            # The session's page is gone: after a few seconds, the session is over.
            gone_since = gone_since or time.monotonic()
            if time.monotonic() - gone_since > 3:
                log(done=True, page="gone")
                return
            time.sleep(0.2)
            continue
        gone_since = None
        if s["done"]:
            log(done=True)
            return
        phase = s.get("phase")
        if phase and phase not in done:
            done.add(phase)
            log(phase=phase)
            v.act(phase)
        time.sleep(0.1)


if __name__ == "__main__":
    main(sys.argv[1])
