#!/usr/bin/env python3
"""A mail client that is not ours: sends one message file with Python's standard smtplib
and prints the outcome as one line of JSON.

  smtp_send.py --port N --from a@b --to c@d [--to e@f ...] --file msg.eml
               [--helo] [--user U --password P [--mech PLAIN|LOGIN]]

Output: {"ok": true, "refused": {rcpt: [code, text]}, "features": [...]}
    or  {"ok": false, "error": {"type": ..., "code": N, "message": ...}}
"""
import argparse
import json
import smtplib
import sys


def text(b):
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else str(b)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--from", dest="sender", required=True)
    p.add_argument("--to", action="append", required=True)
    p.add_argument("--file", required=True)
    p.add_argument("--helo", action="store_true", help="HELO instead of EHLO")
    p.add_argument("--user")
    p.add_argument("--password")
    p.add_argument("--mech", default="PLAIN")
    a = p.parse_args()
    with open(a.file, "rb") as f:
        msg = f.read()
    out = {}
    try:
        with smtplib.SMTP(a.host, a.port, timeout=30) as s:
            if a.helo:
                s.helo("python-peer.invalid")
            else:
                s.ehlo("python-peer.invalid")
            out["features"] = sorted(s.esmtp_features)
            if a.user is not None:
                s.user, s.password = a.user, a.password
                mech = a.mech.upper()
                s.auth(mech, getattr(s, "auth_" + mech.lower()),
                       initial_response_ok=(mech == "PLAIN"))
            refused = s.sendmail(a.sender, a.to, msg)
            out["ok"] = True
            out["refused"] = {k: [v[0], text(v[1])] for k, v in refused.items()}
    except smtplib.SMTPRecipientsRefused as e:
        out["ok"] = False
        out["error"] = {"type": type(e).__name__,
                        "recipients": {k: [v[0], text(v[1])] for k, v in e.recipients.items()}}
    except smtplib.SMTPResponseException as e:
        out["ok"] = False
        out["error"] = {"type": type(e).__name__, "code": e.smtp_code,
                        "message": text(e.smtp_error)}
    except Exception as e:  # connection refused, timeout, ...
        out["ok"] = False
        out["error"] = {"type": type(e).__name__, "message": str(e)}
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
