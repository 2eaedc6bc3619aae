"""The webhook intake: one small ASGI app for everything that pushes to us (website forms, WhatsApp, WeChat).

``create_intake_app(land, sources)`` returns a Starlette app with ``GET|POST /intake/{source}``; the Airflow
plugin mounts it inside Airflow's API server, tests run it under uvicorn. The app holds no global state: what it
needs comes in as arguments, and secrets are looked up per request from the source's connection (so rotating a
secret needs no restart).

A post is refused with a 4xx and no side effect, in this order, when:

    404  the source is unknown                     413  the body is over the limit (checked on Content-Length,
    401  unsigned, stale (> 5 min), bad signature        then counted while reading, then while decompressing)
    409  an exact replay of a post already taken   415  an unsupported Content-Type or Content-Encoding
    400  invalid UTF-8, malformed or too deeply nested JSON/XML/form data; WeChat: an encrypted body that does
         not decrypt (wrong key, bad padding or length)
    403  WeChat: decrypted, but encrypted for another AppID

A WeChat source with an EncodingAESKey (safe or compatible mode) refuses clear pushes with 401: their body is
signed by nobody. A source whose secret or keys are missing or malformed answers 503 (our configuration).

A post that passes is landed at once through ``land(source, records) -> rows newly landed``; landing is
idempotent on (source, key, content hash), so a sender's retry answers 200 with ``"duplicate": true`` and adds
nothing. If landing fails the answer is 503, so the sender retries later.

``hub_lander(hub)`` and ``create_hub_intake_app(hub)`` are the glue to a ``Hub``: each post is one transaction that
lands the records and stamps the source's cursor with the time it last received something.
"""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from connectors.credentials import get_credentials
from connectors.forms import webhook as forms
from connectors.forms._payload import BadSubmission, loads_json, parse_body, submission_record
from connectors.social import wechat, whatsapp
from crm_core.records import Batch, SourceRecord

log = logging.getLogger(__name__)

Land = Callable[[str, list[SourceRecord]], int]
MAX_BODY_BYTES = 1_000_000
KINDS = {"form_webhook": "form", "whatsapp_webhook": "whatsapp", "wechat_webhook": "wechat"}


@dataclass(frozen=True)
class IntakeSource:
    """How one pushing source is verified. ``secret`` (tests, embedding) or ``connection_id`` (its password)."""

    kind: Literal["form", "whatsapp", "wechat"]
    secret: str | None = None
    connection_id: str | None = None
    verify_token: str | None = None  # WhatsApp handshake; else the connection's extra.verify_token
    encoding_aes_key: str | None = None  # WeChat safe/compatible mode; else the connection's extra
    previous_encoding_aes_key: str | None = None  # WeChat: the key before the last change, while pushes still use it
    app_id: str | None = None  # WeChat: the AppID encrypted messages must carry; else the connection's extra
    form: str | None = None
    id_field: str | None = None
    max_body_bytes: int = MAX_BODY_BYTES
    tolerance_seconds: int = forms.TOLERANCE_SECONDS

    def __repr__(self) -> str:  # never show the secret
        return f"IntakeSource(kind={self.kind!r}, connection_id={self.connection_id!r}, form={self.form!r})"

    def resolve_secret(self) -> str | None:
        if self.secret:
            return self.secret
        if not self.connection_id:
            return None
        creds = get_credentials(self.connection_id)
        if creds.password or self.kind != "wechat":
            return creds.password
        token = creds.extra.get("token")  # WeChat: the server token may sit in extra instead of the password
        return str(token) if token else None

    def resolve_wechat_crypto(self) -> tuple[list[str], str | None]:
        """([current EncodingAESKey, previous one if set], AppID) for WeChat's encrypted modes; ([], …) when the
        source is plaintext-only (a previous key alone does not make it encrypted)."""
        if self.encoding_aes_key or not self.connection_id:
            keys, app_id = [self.encoding_aes_key, self.previous_encoding_aes_key], self.app_id
        else:
            extra = get_credentials(self.connection_id).extra
            keys = [extra.get("encoding_aes_key"), extra.get("previous_encoding_aes_key")]
            app_id = self.app_id or extra.get("app_id")
        return ([str(k) for k in keys if k] if keys[0] else []), (str(app_id) if app_id else None)

    def resolve_verify_token(self) -> str | None:
        if self.verify_token:
            return self.verify_token
        if not self.connection_id:
            return None
        token = get_credentials(self.connection_id).extra.get("verify_token")
        return str(token) if token else None


class Refused(Exception):
    """A request we answer with ``status`` and a reason safe to show the sender."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class ReplayGuard:
    """Signatures accepted within the timestamp window; older ones need no memory (they are stale anyway)."""

    def __init__(self, window: float, max_entries: int = 200_000) -> None:
        self.window = window
        self.max_entries = max_entries
        self._seen: dict[str, float] = {}

    def seen(self, signature: str, now: float) -> bool:
        expiry = self._seen.get(signature)
        return expiry is not None and expiry > now

    def remember(self, signature: str, now: float) -> None:
        if len(self._seen) >= self.max_entries:
            self._seen = {s: e for s, e in self._seen.items() if e > now}
            while len(self._seen) >= self.max_entries:  # still full: forget the oldest
                self._seen.pop(next(iter(self._seen)))
        self._seen[signature] = now + 2 * self.window


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused as soon as it is known to exceed ``limit`` (never buffered past it)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise Refused(400, "invalid Content-Length")
        if int(declared) > limit:
            raise Refused(413, f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def decode_content(body: bytes, encoding: str | None, limit: int) -> bytes:
    """Undo ``Content-Encoding`` with an output cap, so a small gzip bomb cannot expand past ``limit``."""
    name = (encoding or "identity").strip().lower()
    if name in ("", "identity"):
        return body
    if name not in ("gzip", "x-gzip", "deflate"):
        raise Refused(415, f"unsupported Content-Encoding {name!r}")
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # 32: accept both gzip and zlib headers
    try:
        out = inflater.decompress(body, limit + 1)
        if len(out) > limit or inflater.unconsumed_tail:
            raise Refused(413, f"decompressed body larger than {limit} bytes")
        out += inflater.flush()
    except zlib.error:
        raise Refused(400, "body is not valid compressed data") from None
    if len(out) > limit:
        raise Refused(413, f"decompressed body larger than {limit} bytes")
    if not inflater.eof:
        raise Refused(400, "compressed body is truncated")
    return out


def create_intake_app(land: Land, sources: Mapping[str, IntakeSource], prefix: str = "/intake") -> Starlette:
    """An ASGI app accepting pushes for ``sources`` (by name) and landing them through ``land``."""
    sources = dict(sources)
    guards = {name: ReplayGuard(src.tolerance_seconds) for name, src in sources.items() if src.kind == "form"}

    async def endpoint(request: Request) -> Response:
        name = request.path_params["source"]
        source = sources.get(name)
        try:
            if source is None:
                raise Refused(404, "unknown source")
            if source.kind == "form":
                return await _form(request, name, source, guards[name], land)
            if source.kind == "whatsapp":
                return await _whatsapp(request, name, source, land)
            return await _wechat(request, name, source, land)
        except Refused as refused:
            log.info("intake %s: refused %s (%s)", name, refused.status, refused.reason)
            return JSONResponse({"error": refused.reason}, status_code=refused.status)

    return Starlette(routes=[Route(prefix + "/{source}", endpoint, methods=["GET", "POST"])])


def _secret(source: IntakeSource) -> str:
    try:
        secret = source.resolve_secret()
    except Exception as exc:  # connection lookup failed: our misconfiguration, not the sender's fault
        log.error("intake: secret lookup failed (%s)", type(exc).__name__)
        secret = None
    if not secret:
        raise Refused(503, "intake not configured for this source")
    return secret


async def _land(land: Land, name: str, records: list[SourceRecord]) -> int:
    if not records:
        return 0
    try:
        return await run_in_threadpool(land, name, records)
    except Exception as exc:
        log.error("intake %s: landing failed (%s)", name, type(exc).__name__)
        raise Refused(503, "could not store the message now; retry later") from exc


async def _form(request: Request, name: str, source: IntakeSource, guard: ReplayGuard, land: Land) -> Response:
    if request.method != "POST":
        raise Refused(405, "POST a form submission")
    timestamp = request.headers.get(forms.TIMESTAMP_HEADER)
    signature = request.headers.get(forms.SIGNATURE_HEADER)
    if not timestamp or not signature:
        raise Refused(401, f"unsigned: send {forms.TIMESTAMP_HEADER} and {forms.SIGNATURE_HEADER}")
    now = time.time()
    if not forms.timestamp_fresh(timestamp, now, source.tolerance_seconds):
        raise Refused(401, "stale or invalid signature timestamp")
    secret = _secret(source)
    raw = await read_body(request, source.max_body_bytes)
    if not forms.signature_valid(secret, timestamp, raw, signature):
        raise Refused(401, "signature does not match")
    if guard.seen(signature, now):
        raise Refused(409, "replayed request: this signature was already accepted")
    body = decode_content(raw, request.headers.get("content-encoding"), source.max_body_bytes)
    try:
        fields, attachments = parse_body(body, request.headers.get("content-type", ""))
    except BadSubmission as exc:
        status = 415 if str(exc).startswith("unsupported content type") else 400
        raise Refused(status, str(exc)) from None
    record = submission_record(
        fields, form=source.form or name, attachments=attachments or None,
        submission_id=request.headers.get(forms.SUBMISSION_ID_HEADER) or None, id_field=source.id_field,
    )
    landed = await _land(land, name, [record])
    guard.remember(signature, now)
    return JSONResponse({"landed": landed, "duplicate": landed == 0, "key": record.key})


async def _whatsapp(request: Request, name: str, source: IntakeSource, land: Land) -> Response:
    if request.method == "GET":
        try:
            token = source.resolve_verify_token()
        except Exception:
            token = None
        challenge = whatsapp.handshake(request.query_params, token)
        if challenge is None:
            raise Refused(403, "verification failed")
        return PlainTextResponse(challenge)
    secret = _secret(source)
    signature = request.headers.get(whatsapp.SIGNATURE_HEADER)
    if not signature:
        raise Refused(401, f"unsigned: send {whatsapp.SIGNATURE_HEADER}")
    raw = await read_body(request, source.max_body_bytes)
    if not whatsapp.signature_valid(secret, raw, signature):
        raise Refused(401, "signature does not match")
    body = decode_content(raw, request.headers.get("content-encoding"), source.max_body_bytes)
    try:
        records, ignored = whatsapp.parse_webhook(loads_json(body))
    except (BadSubmission, whatsapp.BadPayload) as exc:
        raise Refused(400, str(exc)) from None
    landed = await _land(land, name, records)
    return JSONResponse({"landed": landed, "received": len(records), "ignored": ignored})


async def _wechat(request: Request, name: str, source: IntakeSource, land: Land) -> Response:
    token = _secret(source)
    params = request.query_params
    encrypt_type = params.get("encrypt_type") or "raw"
    if encrypt_type not in ("raw", "aes"):
        raise Refused(400, "unsupported encrypt_type")
    crypto = _wechat_crypto(source, name)
    if request.method == "GET":
        return PlainTextResponse(_wechat_echo(token, params, source, crypto))
    if encrypt_type == "raw":
        if not wechat.signature_valid(token, params):
            raise Refused(401, "signature does not match")
        if crypto is not None:  # a clear body is signed by nobody: with a key set, take only what is encrypted
            raise Refused(401, "this source takes encrypted pushes only (safe or compatible mode)")
    _wechat_fresh(params, source)
    raw = await read_body(request, min(source.max_body_bytes, wechat.MAX_XML_BYTES))
    body = decode_content(raw, request.headers.get("content-encoding"), wechat.MAX_XML_BYTES)
    try:
        if encrypt_type == "aes":
            encrypted = wechat.encrypted_field(body)
            if not wechat.msg_signature_valid(token, params, encrypted):
                raise Refused(401, "msg_signature does not match")
            body = _wechat_decrypt(crypto, encrypted)
        record = wechat.parse_message(body)
    except wechat.BadMessage as exc:
        raise Refused(400, str(exc)) from None
    await _land(land, name, [record])
    return PlainTextResponse("success")


def _wechat_echo(token: str, params: Mapping[str, str], source: IntakeSource, crypto: WeChatCrypto | None) -> str:
    """The URL check's answer: ``echostr`` as sent, or decrypted when it comes encrypted with a ``msg_signature``.

    The official-account docs send ``echostr`` in clear, signed by ``signature``, in every mode; the encrypted form
    (signed by ``msg_signature`` over it, the way WeCom checks its URL) is answered too, so either check passes.
    """
    if "msg_signature" not in params:
        if not wechat.signature_valid(token, params):
            raise Refused(401, "signature does not match")
        _wechat_fresh(params, source)
        return params.get("echostr", "")
    echostr = params.get("echostr", "")
    if not wechat.msg_signature_valid(token, params, echostr):
        raise Refused(401, "msg_signature does not match")
    _wechat_fresh(params, source)
    try:
        return _wechat_decrypt(crypto, echostr).decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "echostr is not UTF-8") from None


def _wechat_fresh(params: Mapping[str, str], source: IntakeSource) -> None:
    if not forms.timestamp_fresh(params.get("timestamp", ""), time.time(), source.tolerance_seconds):
        raise Refused(401, "stale or invalid timestamp")


@dataclass(frozen=True)
class WeChatCrypto:
    keys: tuple[bytes, ...] = field(repr=False)  # the current AES key, then the previous one when set
    app_id: str
    source: str


def _wechat_crypto(source: IntakeSource, name: str) -> WeChatCrypto | None:
    """The AES keys and AppID when the source is set up for encrypted modes, None when it is plaintext-only.

    A key that is set but malformed, or set without an AppID, is our misconfiguration: 503, and the log names the
    problem, never the key.
    """
    try:
        encoding_aes_keys, app_id = source.resolve_wechat_crypto()
    except Exception as exc:
        log.error("intake: WeChat key lookup failed (%s)", type(exc).__name__)
        raise Refused(503, "intake not configured for this source") from None
    if not encoding_aes_keys:
        return None
    keys: list[bytes] = []
    for which, encoding_aes_key in zip(("encoding_aes_key", "previous_encoding_aes_key"), encoding_aes_keys,
                                       strict=False):
        try:
            keys.append(wechat.aes_key(encoding_aes_key))
        except ValueError as exc:
            log.error("intake: WeChat %s is malformed (%s)", which, exc)
            raise Refused(503, "intake not configured for this source") from None
    if not app_id:
        log.error("intake: WeChat encoding_aes_key is set without app_id")
        raise Refused(503, "intake not configured for this source")
    return WeChatCrypto(tuple(keys), app_id, name)


def _wechat_decrypt(crypto: WeChatCrypto | None, encrypted: str) -> bytes:
    if crypto is None:
        raise Refused(503, "intake not configured for encrypted pushes (no encoding_aes_key)")
    try:
        message, opened_by = wechat.decrypt_any(crypto.keys, encrypted, crypto.app_id)
    except wechat.WrongAccount as exc:
        raise Refused(403, str(exc)) from None
    except wechat.BadCiphertext as exc:
        raise Refused(400, str(exc)) from None
    if opened_by:
        log.info("intake: a WeChat push to %s was sealed with the previous EncodingAESKey; remove "
                 "previous_encoding_aes_key once none arrive any more", crypto.source)
    return message


# ---------------------------------------------------------------------------------------------- hub glue


def hub_lander(hub: Any) -> Land:
    """``land`` for a ``Hub``: one transaction per post, rows and cursor stamp together."""
    from sqlalchemy.exc import IntegrityError

    from crm_core.db import transaction
    from crm_core.landing import land_batch

    def land(source: str, records: list[SourceRecord]) -> int:
        batch = Batch(records=records, cursor={"mode": "push", "last_received_at": datetime.now(UTC).isoformat()})
        try:
            with transaction(hub.sessions) as session:
                return land_batch(session, source, batch)
        except IntegrityError:
            # two first-ever posts raced to create the cursor row; the row exists now, so once more is enough
            with transaction(hub.sessions) as session:
                return land_batch(session, source, batch)

    return land


def intake_sources(config: Any) -> dict[str, IntakeSource]:
    """The pushing sources of a ``HubConfig`` (enabled ones), verified with their connections' secrets."""
    out: dict[str, IntakeSource] = {}
    for src in config.sources:
        if src.kind in KINDS and src.enabled:
            opts = src.options
            out[src.name] = IntakeSource(
                kind=KINDS[src.kind],  # type: ignore[arg-type]
                connection_id=src.connection_id,
                form=opts.get("form"),
                id_field=opts.get("id_field"),
                max_body_bytes=int(opts.get("max_body_bytes", MAX_BODY_BYTES)),
                tolerance_seconds=int(opts.get("tolerance_seconds", forms.TOLERANCE_SECONDS)),
            )
    return out


def create_hub_intake_app(hub: Any, prefix: str = "/intake") -> Starlette:
    return create_intake_app(hub_lander(hub), intake_sources(hub.config), prefix=prefix)
