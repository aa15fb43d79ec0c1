#!/usr/bin/python3
"""A vendor's EPJ in a certification session (`iplos-harness certify run`), independent of the
harness: Qpid Proton (Debian's python3-qpid-proton) for AMQP over TLS, the openssl command line
for CMS, ElementTree for the IPLOS 56.0.0 export and a MsgHead written here.

    certify_vendor.py DIR                 play the EPJ through every phase of `certify run DIR`
    certify_vendor.py DIR --export OUT    only write the export (OUT/melding.xml and
                                          OUT/korreksjoner.xml) for `certify check DIR --files`

It reads only what a vendor gets (the files in LAYOUT below), `run/endpoints.json` and the live
page's `status.json`; never the harness's answer key or the register's private keys. Its export
is made here from `population.jsonl`: the initial load (every reported service active at the
cut-off, and its stops active then), the year's events in registration order, and the
corrections (M) and annulments (C) of the registrations the population says were made wrong.

In the transport phases it behaves as the session's page asks: it backs off 11 s (real time, at
every time scale) between failed connection attempts, refuses a certificate for another host,
resends after AppRec status 2 (same notifications and GUIDs in a new message), resends the
notifications an AppRec status 3 names as new ones continuing the chain from the last accepted,
resends after a transport error on its `_error` queue, resends a message whose AppRec does not
come (same message-id and MsgId), and resends an unsettled message after a dropped connection
(same message-id). Prints one JSON object per line.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from proton import Message, SSLDomain, Timeout
from proton.utils import BlockingConnection

# Where a vendor's files are, relative to the session directory: its folder `DIR/vendor/`,
# which the operator hands over. Nothing else of DIR is read but ENDPOINTS (the harness's side
# of DIR is not the vendor's).
LAYOUT = {
    "root": "vendor",
    "session": "vendor/session.json",
    "population": "vendor/population.jsonl",
    "perf": "vendor/perf/population.jsonl",
    "credentials": "vendor/credentials.json",
    "own": "vendor/pki/{her}",
    "register": "vendor/pki/register/{her}",
    "pki_ca": "vendor/pki/ca.pem",
    "tls_ca": "vendor/tls/ca.pem",
}
ENDPOINTS = "run/endpoints.json"

IPLOS_NS = "http://www.npr.no/xmlstds/56_0_0_ipl"
MSGHEAD_NS = "http://www.kith.no/xmlstds/msghead/2006-05-24"
APPREC_NS = "http://www.kith.no/xmlstds/apprec/2012-02-15"
CONTENT_TYPE = "application/pkcs7-mime; smime-type=signed-and-enveloped-data"
OID_9051 = "2.16.578.1.12.4.1.1.9051"
OSLO = ZoneInfo("Europe/Oslo")
ZERO_GUID = "00000000-0000-0000-0000-000000000000"

# The EPJ's own name and version, as its export and its messages carry them.
PRODUCT = {"leverandor": "Testleverandør Python", "navnEPJ": "PyEPJ", "versjonEPJ": "1.0.0",
           "versjonUt": "56.0.0"}

# The kommune's IPLOS contact persons as administered in this EPJ (kravspesifikasjon: the EPJ
# must let the kommune administer them); used when the session does not name any.
CONTACTS = [
    {"kontPerson": "Kari Nordmann", "meldTelefon": "40000016", "meldEpost1": "iplos16@kommune.test",
     "typeKontaktperson": "16"},
    {"kontPerson": "Ola Nordmann", "meldTelefon": "40000017", "meldEpost1": "iplos17@kommune.test",
     "typeKontaktperson": "17"},
]

# Service types whose events carry no tjenesteOrgNr (29 housing, 26).
NO_ORGNR = {"26", "29"}

# The anti-hammering rule: at least 10 s between connection attempts; this EPJ waits 11 s
# (the rule is not scaled by the session's time scale).
BACKOFF = 11.0


def log(**kw):
    print(json.dumps(kw, ensure_ascii=False), flush=True)


def openssl(*args, data=None):
    r = subprocess.run(["openssl", *args], input=data, capture_output=True)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (args[0:2], r.stderr.decode(errors="replace")))
    return r.stdout


def oslo(t):
    return t.astimezone(OSLO).isoformat(timespec="seconds")


def now():
    return oslo(datetime.now(OSLO))


def ts(s):
    return datetime.fromisoformat(s)


def day(s):
    return date.fromisoformat(s)


def new_guid():
    return str(uuid.uuid4())


class Files:
    """The vendor's files of a session (LAYOUT); a folder holding only session.json and
    population.jsonl (what `--export` needs) works too."""

    def __init__(self, d):
        self.dir = d
        self.layout = dict(LAYOUT)
        if not os.path.exists(os.path.join(d, LAYOUT["session"])):
            self.layout = {k: v.replace("vendor/", "", 1) if k != "root" else "."
                           for k, v in LAYOUT.items()}

    def path(self, key, **kw):
        return os.path.join(self.dir, self.layout[key].format(**kw))

    def register(self, session, her):
        """The register's certificates (signing, encryption) for HER-id `her`: where
        session.json's `registers` says, else in the layout's folder."""
        for r in session.get("registers") or []:
            if int(r.get("her_id", 0)) == her and r.get("encryption_certificate"):
                root = os.path.join(self.dir, self.layout["root"])
                return (os.path.join(root, r["signing_certificate"]),
                        os.path.join(root, r["encryption_certificate"]))
        p = self.path("register", her=her)
        return os.path.join(p, "signing.pem"), os.path.join(p, "encryption.pem")


# ---------------------------------------------------------------------------------------------
# The export: events from the population, notifications, the IPLOS message.


class Event:
    def __init__(self, kind, person, service, when, reg, orgnr=None, stop_id=None):
        self.kind = kind
        self.person = person
        self.service = service
        self.date = when
        self.reg = reg
        self.orgnr = orgnr
        self.stop_id = stop_id
        self.guid = new_guid()


def provider_on(service, when):
    if service["tjeneste_type"] in NO_ORGNR:
        return None
    current = service.get("provider")
    for c in service.get("provider_changes", []):
        if day(c["date"]) <= when:
            current = c["orgnr"]
    return current


class Export:
    """What this EPJ has stored, as IPLOS events and notifications."""

    def __init__(self, session, population):
        self.session = session
        self.year = int(session["year"])
        # The cut-off of the initial load: session.json says (else 1 January of the year).
        self.cutoff = day(session["cutoff"]) if session.get("cutoff") else date(self.year, 1, 1)
        self.kommune = session["kommune"]
        self.initial = []
        self.year_events = []
        self.corrections = []  # (status, Event, the original Event)
        for p in population:
            self.person(p)
        self.year_events.sort(key=lambda e: ts(e.reg))
        self.corrections.sort(key=lambda c: ts(c[1].reg))
        # Notifications: one event each, løpenr and chain in the order stored.
        cutoff_time = oslo(datetime(self.year, 1, 1, tzinfo=OSLO))
        self.notes = []
        for e in self.initial:
            self.notes.append(self.note("N", e, cutoff_time))
        for e in self.year_events:
            self.notes.append(self.note("N", e, oslo(ts(e.reg) + timedelta(seconds=20))))
        self.ordinary_count = len(self.notes)
        by_event = {id(n["event"]): n for n in self.notes}
        for status, e, original in self.corrections:
            n = self.note(status, e, oslo(ts(e.reg) + timedelta(seconds=20)))
            n["ref"] = by_event[id(original)]["guid"]
            self.notes.append(n)
        relink(self.notes, ZERO_GUID, 1)

    @staticmethod
    def note(status, event, when):
        return {"status": status, "time": when, "guid": new_guid(), "event": event}

    def person(self, p):
        errors = {}
        for r in p.get("registration_errors", []):
            errors.setdefault(r["tjeneste_id"], []).append(r)
        for s in p["services"]:
            if not s.get("reported"):
                continue
            self.service(p, s, errors.get(s["tjeneste_id"], []))

    def service(self, p, s, errors):
        ev = lambda kind, when, reg, orgnr, stop=None: Event(kind, p, s, when, reg, orgnr, stop)
        start = day(s["start"])
        mine = []  # the service's events of the year
        if s.get("active_at_cutoff", start < self.cutoff):
            self.initial.append(ev("TjenesteStart", start, s["start_registered"], s.get("provider")
                                   if s["tjeneste_type"] not in NO_ORGNR else None))
        else:
            mine.append(ev("TjenesteStart", start, s["start_registered"], provider_on(s, start)))
        for st in s.get("stops", []):
            f = day(st["from"])
            fra = ev("MidlertidigStoppFra", f, st["from_registered"], provider_on(s, f), st["id"])
            (self.initial if f < self.cutoff else mine).append(fra)
            if st.get("to"):
                t = day(st["to"])
                mine.append(ev("MidlertidigStoppTil", t, st["to_registered"], provider_on(s, t), st["id"]))
        for c in s.get("provider_changes", []):
            mine.append(ev("TjenesteutforerEndret", day(c["date"]), c["registered"], c["orgnr"]))
        if s.get("end"):
            e = day(s["end"])
            mine.append(ev("TjenesteSlutt", e, s["end_registered"], provider_on(s, e)))
        for r in errors:
            self.wrong(s, r, mine, ev)
        self.year_events.extend(mine)

    def wrong(self, s, r, mine, ev):
        """A registration made wrong: the ordinary message has it as made, the corrections
        message replaces (M) or annuls (C) it."""
        k = r["error"]
        kind = k["kind"]
        if kind in ("wrong_date", "wrong_provider"):
            right = "correct"
            match = [e for e in mine + self.initial if e.kind == r["event"]
                     and (kind != "wrong_date" or e.date == day(k[right]))]
            if not match:
                log(warning="registration error without its event", error=r)
                return
            e = match[0]
            fixed = Event(e.kind, e.person, e.service, e.date, r["corrected"], e.orgnr, e.stop_id)
            if kind == "wrong_date":
                e.date = day(k["sent"])
            else:
                e.orgnr = k["sent"]
            e.reg = r["registered"]
            self.corrections.append(("M", fixed, e))
        elif kind == "spurious_provider_change":
            e = ev("TjenesteutforerEndret", day(k["date"]), r["registered"], k["orgnr"])
            mine.append(e)
            self.corrections.append(("C", ev(e.kind, e.date, r["corrected"], e.orgnr), e))
        elif kind == "spurious_stop":
            f, t = day(k["from"]), day(k["to"])
            fra = ev("MidlertidigStoppFra", f, r["registered"], provider_on(s, f), k["stop_id"])
            # [guess] The population gives the registration time of the stop's start only;
            # its end is taken as registered on its last day's next morning (or after the start).
            til_reg = max(ts(r["registered"]) + timedelta(minutes=5),
                          datetime(t.year, t.month, t.day, 9, 0, tzinfo=OSLO) + timedelta(days=1))
            til_reg = min(til_reg, ts(r["corrected"]) - timedelta(minutes=5))
            til = ev("MidlertidigStoppTil", t, oslo(til_reg), provider_on(s, t), k["stop_id"])
            mine.extend([fra, til])
            # Annulled as a pair: the end first, then the start.
            self.corrections.append(("C", ev(til.kind, t, r["corrected"], til.orgnr, til.stop_id), til))
            later = oslo(ts(r["corrected"]) + timedelta(seconds=30))
            self.corrections.append(("C", ev(fra.kind, f, later, fra.orgnr, fra.stop_id), fra))
        else:
            log(warning="unknown registration error", error=r)

    def part(self, which):
        if which == "initial":
            return self.notes[:len(self.initial)]
        if which == "year":
            return self.notes[len(self.initial):self.ordinary_count]
        if which == "ordinary":
            return self.notes[:self.ordinary_count]
        return self.notes[self.ordinary_count:]

    def contacts(self):
        """The kommune's contact persons: session.json's when it names them."""
        named = self.session.get("contact_persons")
        if named:
            return [{"kontPerson": c.get("navn"), "meldTelefon": c.get("telefon"),
                     "meldEpost1": c.get("epost1"), "meldEpost2": c.get("epost2"),
                     "typeKontaktperson": str(c.get("type_kontaktperson"))} for c in named]
        return CONTACTS

    def xml(self, notes, lokalident):
        """The IPLOS 56.0.0 message of these notifications."""
        root = ET.Element("{%s}Melding" % IPLOS_NS, {"versjon": "56.0.0", "meldingstype": "K",
                                                     **PRODUCT, "lokalident": lokalident})
        for n in notes:
            e = n["event"]
            a = {"statusNotifikasjon": n["status"], "notifikasjonTid": n["time"],
                 "notifikasjonGUID": n["guid"], "notifikasjonForrigeGUID": n["prev"],
                 "notifikasjonLopeNr": str(n["lopenr"])}
            if n.get("ref"):
                a["notifikasjonRef"] = n["ref"]
            ne = ET.SubElement(root, "{%s}Notifikasjon" % IPLOS_NS, a)
            ea = {"tjenesteType": e.service["tjeneste_type"], "tjenesteID": e.service["tjeneste_id"],
                  "hendelseGUID": e.guid, "hendelseDato": e.date.isoformat(), "hendelseRegTid": e.reg}
            if e.orgnr:
                ea["tjenesteOrgNr"] = e.orgnr
            if e.stop_id:
                ea["midlertidigStoppID"] = e.stop_id
            ee = ET.SubElement(ne, "{%s}%s" % (IPLOS_NS, e.kind), ea)
            p = e.person
            ET.SubElement(ee, "{%s}Bruker" % IPLOS_NS, {
                "pasientGUID": p["pasient_guid"], "brukerNr": p["bruker_nr"], "fid": p["fid"],
                "typeID": str(p["type_id"]), "bydel": p["bydel"]})
        for c in self.contacts():
            ET.SubElement(root, "{%s}Kontaktperson" % IPLOS_NS,
                          {k: v for k, v in c.items() if v})
        ET.SubElement(root, "{%s}Kommune" % IPLOS_NS, {"kommuneNr": self.kommune})
        ET.indent(root)
        return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n"


def relink(notes, prev, lopenr):
    """Chains `notes` after the notification `prev` whose løpenr was `lopenr` - 1."""
    for n in notes:
        n["prev"] = prev
        n["lopenr"] = lopenr
        prev = n["guid"]
        lopenr += 1


# ---------------------------------------------------------------------------------------------
# The transport: MsgHead, CMS, AMQP.


def organisation(name, her):
    return ("<mh:Organisation><mh:OrganisationName>%s</mh:OrganisationName><mh:Ident><mh:Id>%d</mh:Id>"
            "<mh:TypeId V=\"HER\" S=\"%s\" DN=\"HER-id\"/></mh:Ident></mh:Organisation>" % (name, her, OID_9051))


def msghead(msg_id, function, sender_name, sender_her, receiver_her, iplos):
    body = iplos.decode("utf-8")
    if body.startswith("<?xml"):
        body = body[body.index("?>") + 2:].lstrip()
    t = now()
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<mh:MsgHead xmlns:mh=\"%s\"><mh:MsgInfo>"
            "<mh:Type V=\"%s\" DN=\"%s\"/><mh:MIGversion>v1.2 2006-05-24</mh:MIGversion>"
            "<mh:GenDate>%s</mh:GenDate><mh:MsgId>%s</mh:MsgId>"
            "<mh:Sender>%s</mh:Sender><mh:Receiver>%s</mh:Receiver></mh:MsgInfo>"
            "<mh:Document><mh:RefDoc><mh:IssueDate V=\"%s\"/><mh:MsgType V=\"XML\" DN=\"XML-instans\"/>"
            "<mh:MimeType>text/xml</mh:MimeType><mh:Content>%s</mh:Content></mh:RefDoc></mh:Document>"
            "</mh:MsgHead>\n" % (MSGHEAD_NS, function["msghead_type"], function["msghead_type_dn"], t, msg_id, organisation(sender_name, sender_her),
                                  organisation("Kommunalt pasient- og brukerregister", receiver_her),
                                  t, body)).encode("utf-8")


class PhaseOver(Exception):
    pass


class Vendor:
    def __init__(self, d, ep):
        self.files = Files(d)
        with open(self.files.path("session")) as f:
            self.session = json.load(f)
        with open(self.files.path("population")) as f:
            population = [json.loads(l) for l in f if l.strip()]
        with open(self.files.path("credentials")) as f:
            self.credentials = json.load(f)
        self.ep = ep
        self.her = int(self.session["her_id"])
        own = self.files.path("own", her=self.her)
        self.signing = (os.path.join(own, "signing.pem"), os.path.join(own, "signing.key.pem"))
        self.encryption = (os.path.join(own, "encryption.pem"), os.path.join(own, "encryption.key.pem"))
        self.pki_ca = self.files.path("pki_ca")
        self.tls_ca = self.files.path("tls_ca")
        self.export = Export(self.session, population)
        if len(self.export.initial) != self.session.get("initial_load", len(self.export.initial)):
            log(warning="initial load differs from the session's", ours=len(self.export.initial),
                session=self.session.get("initial_load"))
        # The throughput load (PERF-01): a second population, the largest kommune's, whose
        # initial load the perf-load phase asks for (sent to KPR Validering).
        self.perf = None
        if os.path.exists(self.files.path("perf")):
            with open(self.files.path("perf")) as f:
                perf = [json.loads(l) for l in f if l.strip()]
            if perf:
                self.perf = Export(dict(self.session, kommune=perf[0]["kommune"]), perf)
        # The message function: session.json says (else what the flat layout's README said).
        self.function = {"subject": "IPLOS", "msghead_type": "IPLOS",
                         "msghead_type_dn": "IPLOS-melding til KPR", "content_type": CONTENT_TYPE}
        self.function.update({k: v for k, v in (self.session.get("message_function") or {}).items() if v})
        gap = (self.session.get("wrong_password") or {}).get("min_attempt_gap_seconds") or 10
        self.backoff = max(BACKOFF, gap + 1.0)
        self.last_attempt = 0.0
        # The production chain (KPR 134197): the last notification it accepted.
        self.production_prev = (ZERO_GUID, 1)

    # --- the live page

    def status(self):
        try:
            with urllib.request.urlopen(self.ep["status"], timeout=5) as r:
                return json.load(r)
        except (OSError, ValueError):
            return None

    def phase(self):
        s = self.status()
        return s.get("phase") if s and not s.get("done") else None

    # --- connections

    def connect(self, host=None, port=None):
        """One connection attempt, never sooner than BACKOFF after a failed one."""
        a = self.ep["amqps"]
        wait = self.last_attempt + self.backoff - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        domain = SSLDomain(SSLDomain.MODE_CLIENT)
        domain.set_trusted_ca_db(self.tls_ca)
        domain.set_peer_authentication(SSLDomain.VERIFY_PEER_NAME)
        url = "amqps://%s:%s@%s:%d" % (self.credentials["username"], self.credentials["password"],
                                       host or a["host"], port or a["port"])
        try:
            # The broker's certificate names localhost and 127.0.0.1; Proton checks the peer
            # name against DNS names only, so the virtual host (SNI and the check) is localhost.
            c = BlockingConnection(url, timeout=60, ssl_domain=domain, allowed_mechs="PLAIN",
                                   virtual_host="localhost", container_id="pyepj-%d" % self.her)
            self.last_attempt = 0.0
            return c
        except Exception:
            self.last_attempt = time.monotonic()
            raise

    def connect_retrying(self, phase):
        while True:
            try:
                return self.connect()
            except Exception as e:
                log(connect="failed", error=str(e), retry_in=self.backoff)
                if self.phase() != phase:
                    raise PhaseOver()

    # --- messages

    def build(self, to_her, notes, lokalident):
        iplos = self.export.xml(notes, lokalident)
        head = msghead(new_guid(), self.function, "%s kommune" % self.session["kommune_name"],
                       self.her, to_her, iplos)
        _, encryption = self.files.register(self.session, to_her)
        signed = openssl("cms", "-sign", "-binary", "-nodetach", "-md", "sha256", "-outform", "DER",
                         "-signer", self.signing[0], "-inkey", self.signing[1], data=head)
        payload = openssl("cms", "-encrypt", "-binary", "-aes256", "-outform", "DER",
                          encryption, data=signed)
        msg_id = new_guid()
        m = Message(id=msg_id, correlation_id=msg_id, address="%d_async" % to_her,
                    reply_to="%d_async" % self.her, subject=self.function["subject"],
                    content_type=self.function["content_type"],
                    properties={"fromHerId": str(self.her), "toHerId": str(to_her),
                                "applicationTimeStamp": now()},
                    body=payload)
        m.inferred = True
        return m

    def read_apprec(self, body, to_her):
        signing, _ = self.files.register(self.session, to_her)
        with tempfile.TemporaryDirectory() as t:
            enc = os.path.join(t, "apprec.der")
            with open(enc, "wb") as f:
                f.write(bytes(body))
            inner = openssl("cms", "-decrypt", "-binary", "-inform", "DER", "-in", enc,
                            "-recip", self.encryption[0], "-inkey", self.encryption[1])
            xml = openssl("cms", "-verify", "-binary", "-inform", "DER", "-CAfile", self.pki_ca,
                          "-certfile", signing, data=inner)
        root = ET.fromstring(xml)
        st = root.find("{%s}Status" % APPREC_NS)
        if st is None:
            st = next((e for e in root.iter() if e.tag.endswith("}Status")), None)
        errors = " ".join(" ".join(e.attrib.values()) + " " + "".join(e.itertext())
                          for e in root.iter() if e.tag.endswith("}Error") or e.tag.endswith("}Details"))
        return (st.get("V") if st is not None else None), errors

    def answer(self, conn, receivers, msg_id, to_her, within):
        """The answer to `msg_id`: ("apprec", status, error text) or ("error", text) or None."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for name, r in receivers:
                try:
                    m = r.receive(timeout=0.2)
                except Timeout:
                    continue
                r.accept()
                corr = str(m.correlation_id) if m.correlation_id is not None else None
                props = m.properties or {}
                original = props.get("originalMessageId") or corr
                if name == "error":
                    if original == msg_id:
                        return ("error", "%s: %s" % (props.get("errorCondition"),
                                                     props.get("errorDescription")))
                    log(ignored="error message", about=original)
                    continue
                if corr != msg_id:
                    log(ignored="apprec", about=corr)
                    continue
                body = m.body.tobytes() if isinstance(m.body, memoryview) else m.body
                st, errors = self.read_apprec(body, to_her)
                return ("apprec", st, errors)
        return None

    def open(self, phase, to_her):
        """A connection with one sender (to `to_her`) and receivers on the own queues."""
        conn = self.connect_retrying(phase)
        try:
            a = self.ep["amqps"]
            sender = conn.create_sender("/exchange/%s/%d_async" % (a["namespace"], to_her), name="pyepj-send")
            receivers = [("apprec", conn.create_receiver("/amq/queue/%d_async" % self.her,
                                                         name="pyepj-async", credit=10)),
                         ("error", conn.create_receiver("/amq/queue/%d_error" % self.her,
                                                        name="pyepj-error", credit=10))]
        except Exception:
            close(conn)
            raise
        return conn, sender, receivers

    def submit(self, phase, to_her, notes, lokalident, prev):
        """Sends `notes` and acts on the answer until they are accepted (or the phase ends).
        `prev` is the chain's last accepted notification (guid, next løpenr); returns the new one."""
        notes = [dict(n) for n in notes]
        relink(notes, *prev)
        apprec_wait = max(5.0, 180.0 * float(self.ep.get("time_scale", 1.0)))
        conn, sender, receivers = self.open(phase, to_her)
        m = self.build(to_her, notes, lokalident)
        resent_same = False
        errors_seen = 0
        try:
            for _ in range(10):
                try:
                    delivery = sender.send(m, timeout=60)
                    log(sent=m.id, to=to_her, notifications=len(notes), state=str(delivery.remote_state))
                    got = self.answer(conn, receivers, m.id, to_her, apprec_wait)
                except PhaseOver:
                    raise
                except Exception as e:
                    # The connection went (or the disposition never came): reconnect, and send the
                    # same message again (same message-id, same MsgId).
                    log(send="failed", id=m.id, error=str(e), retry_in=self.backoff)
                    close(conn)
                    self.last_attempt = time.monotonic()
                    conn, sender, receivers = self.open(phase, to_her)
                    continue
                if got is None:
                    if resent_same:
                        log(apprec="none", id=m.id, action="giving up")
                        break
                    log(apprec="none", id=m.id, action="resending the same message")
                    resent_same = True
                    continue
                if got[0] == "error":
                    errors_seen += 1
                    if errors_seen > 2:
                        # A resend does not cure it: the user has to look (certificates, setup).
                        log(transport_error=got[1], id=m.id, action="giving up after 3 errors")
                        break
                    log(transport_error=got[1], id=m.id, action="resending in a new message")
                    m = self.build(to_her, notes, lokalident)
                    continue
                _, st, errors = got
                log(apprec=st, id=m.id, errors=errors[:300])
                if st == "1":
                    return (notes[-1]["guid"], notes[-1]["lopenr"] + 1) if notes else prev
                if st == "2":
                    # The message was rejected as a whole: the same notifications (same GUIDs)
                    # again, in a new message.
                    m = self.build(to_her, notes, lokalident)
                    continue
                if st == "3":
                    low = errors.lower()
                    named = [i for i, n in enumerate(notes) if n["guid"].lower() in low]
                    if not named:
                        log(apprec3="names no notification of ours")
                        break
                    accepted = [n for i, n in enumerate(notes) if i not in named]
                    if accepted:
                        prev = (accepted[-1]["guid"], accepted[-1]["lopenr"] + 1)
                    again = []
                    for i in named:
                        n = dict(notes[i])
                        n["guid"] = new_guid()
                        again.append(n)
                    relink(again, *prev)
                    log(resending=len(again), after=prev[0])
                    notes = again
                    m = self.build(to_her, notes, lokalident)
                    continue
                break
        finally:
            close(conn)
        return prev

    # --- phases

    def act(self, phase):
        v = self.ep["register_validation_her_id"]
        p = self.ep["register_production_her_id"]
        x = self.export
        k = self.session["kommune"]
        y = self.session["year"]
        if phase == "auth-refused":
            while self.phase() == phase:
                try:
                    close(self.connect())
                    log(login="accepted")
                    return
                except Exception as e:
                    log(login="refused", error=str(e), retry_in=self.backoff)
                    time.sleep(self.backoff)
        elif phase == "tls-wrong-host":
            w = self.ep["wrong_host"]
            try:
                close(self.connect(w["host"], w["port"]))
                log(wrong_host="accepted (should not be)")
            except Exception as e:
                log(wrong_host="refused", error=str(e))
            # Pointed back at the broker: the refused host does not count for its back-off.
            self.last_attempt = 0.0
        elif phase in ("initial-load", "year-events", "corrections"):
            part = {"initial-load": "initial", "year-events": "year", "corrections": "corrections"}[phase]
            self.production_prev = self.submit(phase, p, x.part(part), "%s-%s-%s" % (k, y, part),
                                               self.production_prev)
        elif phase == "perf-load":
            if self.perf is None:
                log(warning="no throughput load in the vendor folder", phase=phase)
                return
            self.submit(phase, v, self.perf.part("initial"),
                        "%s-%s-perf" % (self.perf.kommune, y), (ZERO_GUID, 1))
        elif phase == "sendemodul-upload":
            sm = self.ep["sendemodul"]
            file = x.xml(x.part("ordinary"), "%s-%s-ordinaer" % (k, y))
            Sendemodul(sm, self.credentials).upload(sm["url"], file)
        elif phase == "sendemodul-refused":
            # One attempt: the portal's refusal is shown to the user, who stops.
            sm = self.ep["sendemodul"]
            try:
                Sendemodul(sm, self.credentials).login(sm["refusing_url"])
                log(sendemodul="the refusing portal let us in (should not)")
            except RuntimeError as e:
                log(sendemodul="login refused", error=str(e))
        else:
            # The test submission and every fault phase: the ordinary export to KPR Validering
            # (each phase starts a fresh validation register, so its chain starts over).
            self.submit(phase, v, x.part("ordinary"), "%s-%s-test" % (k, y), (ZERO_GUID, 1))


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kw):
        return None


class Sendemodul:
    """The web portal for the annual file (the older route): log in with the kommune's four
    values, upload the file in parts of at most the portal's limit."""

    def __init__(self, sm, credentials):
        self.sm = sm
        self.pin = credentials.get("sendemodul_pin") or sm.get("pin")
        self.http = urllib.request.build_opener(NoRedirect)
        self.jar = {}

    def request(self, url, data=None, headers=None):
        h = dict(headers or {})
        if self.jar:
            h["Cookie"] = "; ".join("%s=%s" % kv for kv in self.jar.items())
        req = urllib.request.Request(url, data=data, headers=h)
        try:
            r = self.http.open(req, timeout=30)
        except urllib.error.HTTPError as e:
            r = e
        for c in r.headers.get_all("Set-Cookie") or []:
            name, _, value = c.split(";")[0].strip().partition("=")
            if value:
                self.jar[name] = value
        return r.status, r.read().decode("utf-8", errors="replace")

    def login(self, portal):
        base = portal.rstrip("/")
        form = urllib.parse.urlencode({"kommunenr": self.sm["kommunenr"], "bydel": self.sm["bydel"],
                                       "orgnr": self.sm["orgnr"], "pin": self.pin}).encode()
        status, _ = self.request(base + "/login", form,
                                 {"Content-Type": "application/x-www-form-urlencoded"})
        if status >= 400 or not self.jar:
            raise RuntimeError("Sendemodul answered %d" % status)
        return base

    def upload(self, portal, file):
        base = self.login(portal)
        limit = max(1, int(self.sm["part_limit_bytes"]))
        parts = [file[i:i + limit] for i in range(0, len(file), limit)]
        name = "%s%s_iplos.xml" % (self.sm["kommunenr"], self.sm["bydel"])
        for i, part in enumerate(parts):
            _, page = self.request(base + "/upload")
            m = re.search(r'name="csrf"[^>]*value="([^"]*)"', page) or \
                re.search(r'value="([^"]*)"[^>]*name="csrf"', page)
            fields = {"csrf": m.group(1) if m else "", "gruppe": "g%s" % self.sm["kommunenr"],
                      "del": str(i + 1), "antall_deler": str(len(parts)),
                      "epost": "iplos@kommune.test", "telefon": "40000016",
                      "tilbakemeldingspassord": "sertifisering-1"}
            boundary = "pyepj-" + uuid.uuid4().hex
            body = b""
            for key, value in fields.items():
                body += ("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                         % (boundary, key, value)).encode()
            body += ("--%s\r\nContent-Disposition: form-data; name=\"fil\"; filename=\"%s\"\r\n"
                     "Content-Type: application/xml\r\n\r\n" % (boundary, name)).encode()
            body += part + ("\r\n--%s--\r\n" % boundary).encode()
            status, text = self.request(base + "/upload", body,
                                        {"Content-Type": "multipart/form-data; boundary=" + boundary})
            if status >= 300:
                raise RuntimeError("part %d of %d: Sendemodul answered %d: %s"
                                   % (i + 1, len(parts), status, text[:300]))
        log(sendemodul="uploaded", bytes=len(file), parts=len(parts))


def close(conn):
    try:
        conn.close()
    except Exception:
        pass


def endpoints(d):
    path = os.path.join(d, ENDPOINTS)
    for _ in range(600):
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, ValueError):
            time.sleep(0.1)
    raise SystemExit("%s did not appear: is `certify run` running?" % path)


def main(args):
    ET.register_namespace("", IPLOS_NS)
    d = args[0]
    if len(args) == 3 and args[1] == "--export":
        files = Files(d)
        with open(files.path("session")) as f:
            session = json.load(f)
        with open(files.path("population")) as f:
            x = Export(session, [json.loads(l) for l in f if l.strip()])
        os.makedirs(args[2], exist_ok=True)
        with open(os.path.join(args[2], "melding.xml"), "wb") as f:
            f.write(x.xml(x.part("ordinary"), "%s-%s-ordinaer" % (session["kommune"], session["year"])))
        with open(os.path.join(args[2], "korreksjoner.xml"), "wb") as f:
            f.write(x.xml(x.part("corrections"), "%s-%s-korreksjoner" % (session["kommune"], session["year"])))
        log(export=args[2], initial=len(x.initial), notifications=x.ordinary_count,
            corrections=len(x.notes) - x.ordinary_count)
        return
    v = Vendor(d, endpoints(d))
    done = set()
    gone_since = None
    while True:
        s = v.status()
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
            log(done=True, verdict=s.get("verdict"))
            return
        phase = s.get("phase")
        if phase and phase not in done:
            done.add(phase)
            log(phase=phase)
            try:
                v.act(phase)
            except PhaseOver:
                log(phase=phase, over="before the broker could be reached")
            except Exception as e:
                log(phase=phase, error=repr(e))
        time.sleep(0.1)


if __name__ == "__main__":
    main(sys.argv[1:])
