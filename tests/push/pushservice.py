"""A push service on loopback, as a browser's would be: it takes a push for a subscription it
issued, checks the VAPID JWT (ES256, RFC 8292) with its own code, decrypts the payload with
http_ece (RFC 8188, RFC 8291) using the keys only the subscriber holds, and answers with the
status the test chose for that subscription (201, or 410 when it is "gone")."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import http_ece
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class BrowserSubscription:
    """What a browser's PushManager.subscribe() gives, with the secrets it keeps."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes
    #: The status the push service answers pushes to it with.
    status: int = 201

    @property
    def p256dh(self) -> str:
        return b64url(self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        ))

    def json(self) -> dict[str, Any]:
        keys = {"p256dh": self.p256dh, "auth": b64url(self.auth)}
        return {"endpoint": self.endpoint, "keys": keys}


@dataclass
class ReceivedPush:
    endpoint: str
    payload: dict[str, Any]
    claims: dict[str, Any]
    #: The VAPID public key the push was signed with (``k``).
    vapid_key: str
    ttl: str | None
    answered: int


@dataclass
class LocalPushService:
    origin: str = ""
    pushes: list[ReceivedPush] = field(default_factory=list)
    #: Requests refused before decryption, with why (a bad JWT, an unknown endpoint).
    refused: list[str] = field(default_factory=list)
    #: While true, requests are not answered until the service closes (a stalled service).
    stall: bool = False
    _subscriptions: dict[str, BrowserSubscription] = field(default_factory=dict)
    _runner: web.AppRunner | None = None
    _closing: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> LocalPushService:
        app = web.Application()
        app.router.add_post("/push/{id}", self._push)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.origin = f"http://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def subscription(self, status: int = 201) -> BrowserSubscription:
        sub_id = uuid.uuid4().hex
        sub = BrowserSubscription(
            f"{self.origin}/push/{sub_id}", ec.generate_private_key(ec.SECP256R1()),
            os.urandom(16), status,
        )
        self._subscriptions[sub_id] = sub
        return sub

    def to(self, sub: BrowserSubscription) -> list[ReceivedPush]:
        return [p for p in self.pushes if p.endpoint == sub.endpoint]

    async def _push(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.stall:
            await self._closing.wait()
            return web.Response(status=503)
        sub = self._subscriptions.get(request.match_info["id"])
        if sub is None:
            self.refused.append("unknown endpoint")
            return web.Response(status=404)
        try:
            claims, key = verify_vapid(request.headers.get("Authorization", ""), self.origin)
        except ValueError as exc:
            self.refused.append(str(exc))
            return web.Response(status=403, text=str(exc))
        if request.headers.get("Content-Encoding") != "aes128gcm":
            self.refused.append("not aes128gcm")
            return web.Response(status=415)
        plain = http_ece.decrypt(
            body, private_key=sub.private_key, auth_secret=sub.auth, version="aes128gcm"
        )
        self.pushes.append(ReceivedPush(
            sub.endpoint, json.loads(plain), claims, key, request.headers.get("TTL"), sub.status
        ))
        return web.Response(status=sub.status)


def verify_vapid(header: str, audience: str) -> tuple[dict[str, Any], str]:
    """The claims and public key of a valid ``vapid t=<jwt>,k=<key>`` header; ValueError
    naming what is wrong otherwise."""
    scheme, _, rest = header.partition(" ")
    if scheme.lower() != "vapid":
        raise ValueError(f"not a vapid Authorization: {header[:20]!r}")
    params = dict(part.strip().split("=", 1) for part in rest.split(","))
    token, key = params.get("t", ""), params.get("k", "")
    head, payload, signature = token.split(".")
    if json.loads(unb64url(head)) != {"typ": "JWT", "alg": "ES256"}:
        raise ValueError("JWT header is not ES256")
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(key))
    raw = unb64url(signature)
    if len(raw) != 64:
        raise ValueError("ES256 signature is not 64 bytes")
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        public.verify(der, f"{head}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ValueError("JWT signature does not verify with k") from None
    claims = json.loads(unb64url(payload))
    if claims.get("aud") != audience:
        raise ValueError(f"aud {claims.get('aud')!r} is not {audience!r}")
    if not time.time() < claims.get("exp", 0) <= time.time() + 24 * 3600:
        raise ValueError("exp not within the next 24 hours")
    if not str(claims.get("sub", "")).startswith(("mailto:", "https://")):
        raise ValueError("sub is not a mailto: or https: URL")
    return claims, key
