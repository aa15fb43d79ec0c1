#!/usr/bin/env python3
"""A MOVEit Transfer REST client written from the public API documentation only
(MOVEit Transfer REST API, /api/v1: token, token refresh, info, users/self, folders,
folder content, folder files, file details, folder-scoped download, revoke), using only
Python's standard library. It knows nothing of the harness.

usage: moveit_client.py BASE_URL USERNAME PASSWORD OUT_DIR

Signs on, lists the user's folders, finds the files in each (through /content and
/files), downloads each through /folders/{id}/files/{fileId}/download (a redirect to the
file's download, followed as a browser would), checks the documented SHA-1 `hash`, saves
the files in OUT_DIR and prints a JSON summary. Exit status 1 with a message on any error.
"""

import hashlib
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request


class MoveitError(Exception):
    pass


class Client:
    def __init__(self, base):
        self.base = base.rstrip("/") + "/api/v1"
        self.access = None
        self.refresh_token = None

    def _open(self, req):
        try:
            return urllib.request.urlopen(req, timeout=30)
        except urllib.error.HTTPError as e:
            body = e.read().decode("utf-8", "replace")
            raise MoveitError(f"{req.get_method()} {req.full_url}: {e.code} {body}")

    def _token(self, fields):
        data = urllib.parse.urlencode(fields).encode()
        req = urllib.request.Request(
            self.base + "/token",
            data=data,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        with self._open(req) as r:
            t = json.load(r)
        # TokenAcquiredModel: access_token, token_type, expires_in, refresh_token
        if t.get("token_type", "").lower() != "bearer":
            raise MoveitError(f"unexpected token_type {t.get('token_type')!r}")
        if not isinstance(t.get("expires_in"), int):
            raise MoveitError("expires_in is not a number")
        self.access = t["access_token"]
        self.refresh_token = t["refresh_token"]
        return t

    def sign_on(self, username, password):
        return self._token(
            {"grant_type": "password", "username": username, "password": password}
        )

    def refresh(self):
        return self._token(
            {"grant_type": "refresh_token", "refresh_token": self.refresh_token}
        )

    def revoke(self):
        data = urllib.parse.urlencode({"token": self.access}).encode()
        req = urllib.request.Request(
            self.base + "/token/revoke", data=data, method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        with self._open(req) as r:
            return json.load(r)

    def get(self, path, raw=False, auth=True):
        headers = {"Accept": "application/json"}
        if auth:
            headers["Authorization"] = "Bearer " + self.access
        req = urllib.request.Request(self.base + path, headers=headers)
        with self._open(req) as r:
            return r.read() if raw else json.load(r)

    def paged(self, path):
        """Every item of a PagedModel collection, page by page."""
        items, page = [], 1
        sep = "&" if "?" in path else "?"
        while True:
            p = self.get(f"{path}{sep}page={page}&perPage=2")
            items.extend(p["items"])
            if page >= p["paging"]["totalPages"]:
                return items
            page += 1


def main():
    base, username, password, out_dir = sys.argv[1:5]
    c = Client(base)
    info = c.get("/info", auth=False)  # PublicOrgModel
    c.sign_on(username, password)
    first = c.access
    c.refresh()
    if c.access == first:
        raise MoveitError("refresh gave the same access token")
    me = c.get("/users/self")
    folders = c.paged("/folders")
    summary = {
        "org": info.get("name"),
        "org_id": info.get("id"),
        "username": me.get("username"),
        "home_folder": me.get("homeFolderID"),
        "folders": sorted(f["path"] for f in folders),
        "content": {},
        "files": [],
    }
    for folder in folders:
        content = c.paged(f"/folders/{folder['id']}/content")
        summary["content"][folder["path"]] = sorted(
            f"{i['type']}:{i['name']}" for i in content
        )
        files = c.paged(f"/folders/{folder['id']}/files")
        content_files = sorted(i["name"] for i in content if i["type"] == "File")
        if content_files != sorted(f["name"] for f in files):
            raise MoveitError(f"content and files disagree in {folder['path']}")
        for f in files:
            details = c.get(f"/files/{f['id']}")
            data = c.get(f"/folders/{folder['id']}/files/{f['id']}/download", raw=True)
            sha1 = hashlib.sha1(data).hexdigest()
            if sha1 != details["hash"].lower():
                raise MoveitError(f"{f['name']}: hash {details['hash']} but got {sha1}")
            if len(data) != f["size"]:
                raise MoveitError(f"{f['name']}: size {f['size']} but got {len(data)}")
            with open(os.path.join(out_dir, os.path.basename(f["name"])), "wb") as out:
                out.write(data)
            summary["files"].append({"name": f["name"], "size": len(data), "sha1": sha1})
    summary["revoked"] = c.revoke().get("message", "")
    try:
        c.get("/users/self")
        raise MoveitError("the revoked token still works")
    except MoveitError as e:
        if " 401 " not in str(e):
            raise
    print(json.dumps(summary, ensure_ascii=False))


if __name__ == "__main__":
    try:
        main()
    except MoveitError as e:
        print(f"moveit_client: {e}", file=sys.stderr)
        sys.exit(1)
