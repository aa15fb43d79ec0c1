#!/usr/bin/python3
"""An independent AMQP 1.0 client for the service bus tests: Qpid Proton's blocking API.

Run by mocks/tests/servicebus_proton.rs with Debian's /usr/bin/python3 (python3-qpid-proton).
Prints one JSON object per line on stdout; exits non-zero on an unexpected failure.

    proton_peer.py roundtrip URL NAMESPACE FROM_HER TO_HER
        send an NHN-shaped message to /exchange/NAMESPACE/TO_HER_async; send one to the own
        queue; receive everything from /amq/queue/FROM_HER_async and print it.
    proton_peer.py badauth URL
        try to connect with the (wrong) credentials in URL; print the error condition.
    proton_peer.py oversize URL NAMESPACE TO_HER SIZE
        send a message with a SIZE-byte body; print the link error condition.
    proton_peer.py forbidden URL QUEUE
        try to receive from QUEUE; print the link error condition.
    proton_peer.py tlsecho URL NAMESPACE HER CA_PEM
        over amqps:// (verifying the broker against CA_PEM and the host name), send a message
        to the own async queue and receive it back.
"""

import json
import sys

from proton import Message
from proton import ConnectionException
from proton.utils import BlockingConnection, LinkDetached, SendException, ConnectionClosed

TIMEOUT = 20


def connect(url):
    # user:password in the URL, SASL PLAIN only (as a vendor's client is configured).
    return BlockingConnection(url, timeout=TIMEOUT, allowed_mechs="PLAIN", container_id="proton-peer")


def describe(msg, delivery_count=None):
    body = msg.body
    if isinstance(body, memoryview):
        body = body.tobytes()
    return {
        "id": str(msg.id) if msg.id is not None else None,
        "correlation_id": str(msg.correlation_id) if msg.correlation_id is not None else None,
        "to": msg.address,
        "reply_to": msg.reply_to,
        "subject": msg.subject,
        "content_type": str(msg.content_type) if msg.content_type is not None else None,
        "properties": {str(k): str(v) for k, v in (msg.properties or {}).items()},
        "body_hex": bytes(body).hex() if isinstance(body, (bytes, bytearray)) else None,
        "body_type": type(body).__name__,
        "delivery_count": msg.delivery_count,
    }


def nhn_message(msg_id, to_queue, reply_queue, from_her, to_her, body):
    m = Message(
        id=msg_id,
        correlation_id="corr-" + msg_id,
        address=to_queue,
        reply_to=reply_queue,
        subject="IPLOS",
        content_type="application/pkcs7-mime; smime-type=signed-and-enveloped-data",
        properties={
            "fromHerId": str(from_her),
            "toHerId": str(to_her),
            "applicationTimeStamp": "2019-01-03T08:15:00+01:00",
            "cpaId": "cpa-proton",
        },
        body=body,
    )
    # A bytes body goes out as one data section.
    m.inferred = True
    return m


def roundtrip(url, namespace, from_her, to_her):
    conn = connect(url)
    # Explicit link names: Proton's default name is container-address, and two links to one
    # address on one connection would collide.
    to_national = conn.create_sender("/exchange/%s/%s_async" % (namespace, to_her), name="to-national")
    delivery = to_national.send(
        nhn_message("proton-1", "%s_async" % to_her, "%s_async" % from_her, from_her, to_her,
                    bytes(range(256)) * 40))
    print(json.dumps({"sent": "proton-1", "state": str(delivery.remote_state)}), flush=True)
    to_self = conn.create_sender("/exchange/%s/%s_async" % (namespace, from_her), name="to-self")
    delivery = to_self.send(
        nhn_message("proton-echo", "%s_async" % from_her, "%s_async" % from_her, from_her, from_her,
                    b"echo"))
    print(json.dumps({"sent": "proton-echo", "state": str(delivery.remote_state)}), flush=True)
    receiver = conn.create_receiver("/amq/queue/%s_async" % from_her, name="from-own", credit=10)
    for _ in range(2):
        msg = receiver.receive(timeout=TIMEOUT)
        out = describe(msg)
        receiver.accept()
        print(json.dumps({"received": out}), flush=True)
    to_national.close()
    to_self.close()
    receiver.close()
    conn.close()


def badauth(url):
    try:
        conn = connect(url)
        conn.close()
        print(json.dumps({"connected": True}), flush=True)
    except (ConnectionException, ConnectionClosed) as e:
        text = str(e)
        print(json.dumps({"refused": text}), flush=True)


def link_error(e):
    link = getattr(e, "link", None)
    cond = None
    if link is not None and link.remote_condition is not None:
        cond = {"name": link.remote_condition.name, "description": link.remote_condition.description}
    return {"error": type(e).__name__, "condition": cond, "text": str(e)}


def oversize(url, namespace, to_her, size):
    conn = connect(url)
    sender = conn.create_sender("/exchange/%s/%s_async" % (namespace, to_her), name="big")
    try:
        delivery = sender.send(nhn_message("proton-big", "x", "y", 1, to_her, b"\x07" * size))
        print(json.dumps({"sent": "proton-big", "state": str(delivery.remote_state)}), flush=True)
    except (LinkDetached, SendException, ConnectionException, ConnectionClosed) as e:
        print(json.dumps(link_error(e)), flush=True)
    try:
        conn.close()
    except Exception:
        pass


def forbidden(url, queue):
    conn = connect(url)
    try:
        receiver = conn.create_receiver(queue, name="forbidden")
        msg = receiver.receive(timeout=5)
        print(json.dumps({"received": describe(msg)}), flush=True)
    except (LinkDetached, ConnectionException, ConnectionClosed) as e:
        print(json.dumps(link_error(e)), flush=True)
    except Exception as e:  # a timeout would mean the refusal never arrived
        print(json.dumps({"error": type(e).__name__, "text": str(e), "condition": None}), flush=True)
    try:
        conn.close()
    except Exception:
        pass


def tlsecho(url, namespace, her, ca_pem):
    from proton import SSLDomain
    domain = SSLDomain(SSLDomain.MODE_CLIENT)
    domain.set_trusted_ca_db(ca_pem)
    domain.set_peer_authentication(SSLDomain.VERIFY_PEER_NAME)
    conn = BlockingConnection(url, timeout=TIMEOUT, allowed_mechs="PLAIN", ssl_domain=domain,
                              container_id="proton-tls")
    sender = conn.create_sender("/exchange/%s/%s_async" % (namespace, her), name="tls-send")
    delivery = sender.send(nhn_message("proton-tls", "%s_async" % her, "%s_async" % her, her, her, b"over tls"))
    print(json.dumps({"sent": "proton-tls", "state": str(delivery.remote_state)}), flush=True)
    receiver = conn.create_receiver("/amq/queue/%s_async" % her, name="tls-recv", credit=1)
    msg = receiver.receive(timeout=TIMEOUT)
    receiver.accept()
    print(json.dumps({"received": describe(msg)}), flush=True)
    sender.close()
    receiver.close()
    conn.close()


def main(argv):
    cmd = argv[1]
    if cmd == "roundtrip":
        roundtrip(argv[2], argv[3], int(argv[4]), int(argv[5]))
    elif cmd == "badauth":
        badauth(argv[2])
    elif cmd == "oversize":
        oversize(argv[2], argv[3], int(argv[4]), int(argv[5]))
    elif cmd == "tlsecho":
        tlsecho(argv[2], argv[3], int(argv[4]), argv[5])
    elif cmd == "forbidden":
        forbidden(argv[2], argv[3])
    else:
        raise SystemExit("unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
