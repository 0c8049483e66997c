"""VAPID (RFC 8292): the server's key pair, which every push it sends is signed with.

A browser subscribes with the public key (``applicationServerKey``) and its push service
accepts only pushes signed by the matching private key, so the key must stay the same for as
long as subscriptions live: it is generated once into the data dir, or given by the
``vapid_private_key`` setting (which several nodes must share).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from py_vapid import Vapid02
from py_vapid.utils import b64urlencode

log = logging.getLogger("tether.push")

#: The key's file in the data dir (PEM, readable by the owner only).
KEY_FILE = "vapid_private.pem"
#: How long a signed VAPID token is valid (RFC 8292 allows at most 24 hours).
TOKEN_SECONDS = 12 * 3600


class VapidKeys:
    """The server's VAPID key pair and the ``sub`` claim pushes are signed with."""

    def __init__(self, vapid: Vapid02, subject: str) -> None:
        self.vapid = vapid
        self.subject = subject
        raw = vapid.public_key.public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        #: The public key as the browser's ``applicationServerKey`` takes it (base64url).
        self.public_key: str = b64urlencode(raw)

    def claims(self, endpoint: str) -> dict[str, str | int]:
        """The claims of a push to ``endpoint``: its origin as ``aud``, and an expiry."""
        url = urlsplit(endpoint)
        return {"sub": self.subject, "aud": f"{url.scheme}://{url.netloc}",
                "exp": int(time.time()) + TOKEN_SECONDS}


def load_keys(data_dir: Path, private_key: str | None, subject: str) -> VapidKeys:
    """The key given (PEM, or base64url DER or raw, as py_vapid reads them), else the one in
    the data dir, generated there the first time (several processes starting at once on one
    data dir agree on one key: the first to link its file wins)."""
    if private_key:
        vapid = (Vapid02.from_pem(private_key.strip().encode()) if "-----BEGIN" in private_key
                 else Vapid02.from_string(private_key))
        return VapidKeys(vapid, subject)
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        fresh = Vapid02()
        fresh.generate_keys()
        fd, temp = tempfile.mkstemp(prefix=".vapid-", dir=data_dir)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(fresh.private_pem())
            with contextlib.suppress(FileExistsError):
                os.link(temp, path)
                log.info("generated the VAPID key pair in %s", path)
        finally:
            os.unlink(temp)
    return VapidKeys(Vapid02.from_file(str(path)), subject)
