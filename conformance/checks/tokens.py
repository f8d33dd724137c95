"""Tokens: what is issued is a well-formed, typed, short-lived JWT, and forged or swapped ones are refused.

The forging checks (TOK-01..03, 05, 06) start from a freshly issued access token, change one thing,
and present the forgery by every way the profile declares; then they present the original again,
so a target that refuses everything (or revokes on the first bad token) reports error, not pass.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.server
import json
import re
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .. import expect, jwt_probes
from ..context import CheckContext
from ..device import Device, Tokens, decode_unverified
from ..errors import CalibrationError, CheckSkipped, TargetError
from ..registry import requirement

#: Env vars through which a user may give the suite the HMAC secrets of a test deployment, so the
#: checks that must mint validly signed tokens (TOK-03, TOK-12, EXP-05) can run; a key TOK-04's
#: dictionary recovers serves as well. Never read from a profile file.
ACCESS_SECRET_ENV = "TOKENCONFORM_ACCESS_SECRET"
REFRESH_SECRET_ENV = "TOKENCONFORM_REFRESH_SECRET"
SECRET_ENVS = {"access": ACCESS_SECRET_ENV, "refresh": REFRESH_SECRET_ENV}


# ---------------------------------------------------------------- shared by the forging checks


def present_forgeries(
    ctx: CheckContext,
    device: Device,
    original: Tokens,
    forgeries: Sequence[tuple[str, str]],
    *,
    because: str,
) -> None:
    """Each forged access token is refused by every declared presentation; the original still works.

    A rejection counts only while the original token is unexpired (a forgery of an expired token
    is refused for the wrong reason); the final acceptance of the original is the persistence half
    of the oracle (jwt_tool's prescan): without it a target that refuses everything would pass.
    """
    for label, forged in forgeries:
        for via in ctx.profile.protected.present:
            response = device.call_protected(forged, via=via)
            ctx.require_unexpired(
                original.access_claims, response.sent_at, "the access token the forgery was made from"
            )
            expect.rejected(response, because=f"{because} ({label}, presented by {via})")
    still_valid(ctx, device, original)


def still_valid(ctx: CheckContext, device: Device, tokens: Tokens) -> None:
    """The untouched access token is accepted after the probes, or the check has no verdict."""
    for via in ctx.profile.protected.present:
        response = device.call_protected(tokens.access_token, via=via)
        if not response.ok:
            ctx.require_unexpired(tokens.access_expiry, response.sent_at, "the original access token")
            raise CalibrationError(
                f"the original access token was refused ({response.status}, presented by {via}) after the "
                "forged ones, so their rejection proves nothing: does the target revoke a session on a bad token?",
                evidence=[response.describe()],
            )


def _parts(token: str, what: str) -> jwt_probes.Parts:
    try:
        return jwt_probes.split(token)
    except ValueError as exc:
        raise CheckSkipped(f"the {what} is not a compact JWT ({exc}); this check forges JWTs") from None


def _login(ctx: CheckContext) -> tuple[Device, Tokens]:
    ctx.calibrate()
    device = ctx.new_device()
    return device, device.login()


# ---------------------------------------------------------------- TOK-01 .. TOK-06: forgeries


# RFC 8725 §3.1: "Libraries MUST enable the caller to specify a supported set of algorithms and
# MUST NOT use any other algorithms when performing cryptographic operations."
@requirement("TOK-01")
def alg_none_tokens_are_rejected(ctx: CheckContext) -> None:
    """An access token re-encoded with alg none/None/NONE/nOnE, signature empty or kept, is refused."""
    device, tokens = _login(ctx)
    parts = _parts(tokens.access_token, "access token")
    forgeries = []
    for spelling in jwt_probes.ALG_NONE_SPELLINGS:
        header = {**parts.header, "alg": spelling}
        forgeries.append(
            (f"alg {spelling!r}, no signature", jwt_probes.reencode(tokens.access_token, header=header, signature=""))
        )
        forgeries.append(
            (f"alg {spelling!r}, original signature", jwt_probes.reencode(tokens.access_token, header=header))
        )
    present_forgeries(ctx, device, tokens, forgeries, because="an unsigned token was accepted")


def _flip(signature: str) -> str:
    raw = bytearray(jwt_probes.b64url_decode(signature) or b"\x00")
    raw[len(raw) // 2] ^= 0x01
    return jwt_probes.b64url_encode(bytes(raw))


# RFC 7519 §7.2: "If any of the listed steps fail, then the JWT MUST be rejected -- that is,
# treated by the application as an invalid input."
@requirement("TOK-02")
def signatures_are_verified(ctx: CheckContext) -> None:
    """A tampered payload, a truncated, flipped or removed signature: each token is refused."""
    device, tokens = _login(ctx)
    parts = _parts(tokens.access_token, "access token")
    token = tokens.access_token
    payload = dict(parts.payload)
    later = payload.get("exp")
    forgeries = [
        ("payload with an added claim", jwt_probes.reencode(token, payload={**payload, "tokenconform": "tampered"})),
        ("signature truncated by 4 characters", jwt_probes.reencode(token, signature=parts.signature_segment[:-4])),
        ("one signature bit flipped", jwt_probes.reencode(token, signature=_flip(parts.signature_segment))),
        ("signature removed", jwt_probes.reencode(token, signature="")),
    ]
    if isinstance(later, (int, float)) and not isinstance(later, bool):
        forgeries.insert(
            1, ("payload exp extended by a day", jwt_probes.reencode(token, payload={**payload, "exp": later + 86400}))
        )
    present_forgeries(ctx, device, tokens, forgeries, because="a token whose signature does not match was accepted")


def minting_key(ctx: CheckContext, token: str, kind: str) -> tuple[bytes, str] | None:
    """The HMAC key of an issued ``kind`` ("access"/"refresh") token and where it came from.

    From the kind's env var, else from the common-secrets dictionary; None when neither has it.
    A given key that does not verify the token is our input's fault, so it is an error, not a
    verdict, unless the dictionary recovers the real key (then that key is used: the deployment
    signs with a well-known secret, which TOK-04 reports).
    """
    env = SECRET_ENVS[kind]
    parts = jwt_probes.split(token)
    given = ctx.environ.get(env)
    if given and jwt_probes.verify_hs(parts, given.encode("utf-8")):
        return given.encode("utf-8"), env
    cracked = jwt_probes.crack_hs(token, ("", *jwt_probes.common_secrets()))
    if cracked is not None:
        return cracked.encode("utf-8"), "the common-secrets dictionary (see TOK-04)"
    if given:
        raise TargetError(f"the key from {env} does not verify the issued {kind} token")
    return None


def minted_tokens_are_accepted(
    ctx: CheckContext, device: Device, parts: jwt_probes.Parts, key: bytes, source: str
) -> None:
    """Positive control: the access token's own claims, re-signed by us, open the protected resource.

    Without it a refusal of an edited token proves nothing (e.g. a target that compares token
    strings with a list it issued refuses every re-signed token, edited or not).
    """
    control = jwt_probes.sign_hs(parts.header, parts.payload, key, parts.alg)
    for via in ctx.profile.protected.present:
        response = device.call_protected(control, via=via)
        if not response.ok:
            ctx.require_unexpired(parts.payload, response.sent_at, "the re-signed access token")
            raise CalibrationError(
                f"the access token re-signed unchanged with the key from {source} was refused "
                f"({response.status}, {via}), so refusals of edited tokens prove nothing",
                evidence=[response.describe()],
            )


# RFC 8725 §2.1: "An "RS256" (RSA, 2048 bit) parameter value can be changed into "HS256" (HMAC,
# SHA-256), and some libraries would try to validate the signature using HMAC-SHA256 and using
# the RSA public key as the HMAC shared secret (see [McLean] and [CVE-2015-9235])."
@requirement("TOK-03")
def each_key_is_used_with_one_algorithm(ctx: CheckContext) -> None:
    """The access token re-signed with the same key but another HMAC algorithm is refused."""
    device, tokens = _login(ctx)
    parts = _parts(tokens.access_token, "access token")
    if parts.alg not in jwt_probes.HS_ALGORITHMS:
        raise CheckSkipped(
            f"the access token is signed with {parts.alg or 'no algorithm'}; the HS256-keyed-with-the-public-key "
            "probe needs the target's published public key, which the profile format does not carry yet"
        )
    known = minting_key(ctx, tokens.access_token, "access")
    if known is None:
        raise CheckSkipped(
            f"re-signing with another algorithm needs the {parts.alg} key: set {ACCESS_SECRET_ENV} to the "
            "access-token secret of a test deployment to enable this check"
        )
    key, source = known
    minted_tokens_are_accepted(ctx, device, parts, key, source)
    forgeries = [
        (f"re-signed as {alg} with the same key", jwt_probes.sign_hs(parts.header, parts.payload, key, alg))
        for alg in jwt_probes.HS_ALGORITHMS
        if alg != parts.alg
    ]
    present_forgeries(
        ctx, device, tokens, forgeries, because=f"the {parts.alg} key was accepted with another algorithm"
    )


# RFC 8725 §3.5: "In particular, human-memorizable passwords MUST NOT be directly used as the key
# to a keyed-MAC algorithm such as "HS256"."
@requirement("TOK-04")
def hmac_keys_are_not_guessable(ctx: CheckContext) -> None:
    """No HS-signed token's key is in the dictionary of common secrets (tried offline, no requests)."""
    tokens = ctx.new_device().login()
    candidates = ("", *jwt_probes.common_secrets())
    tried = 0
    for what, token in (("access token", tokens.access_token), ("refresh token", tokens.refresh_token)):
        if not jwt_probes.is_hs(token):
            continue
        tried += 1
        found = jwt_probes.crack_hs(token, candidates)
        expect.that(
            found is None,
            f"the {what}'s HMAC key is a well-known secret: anyone can mint tokens",
            expected=f"a random key not among {len(candidates)} common secrets",
            actual=f"key recovered offline from one {what}: {found!r}",
            exchanges=[tokens.exchange],
        )
    if not tried:
        raise CheckSkipped("no issued token is an HMAC-signed JWT (alg HS256/384/512); the dictionary applies to those")


@contextlib.contextmanager
def _jwks_server(key: bytes) -> Iterator[str]:
    """Serve a JWKS holding the attacker's key on 127.0.0.1, so a jku-following target could fetch it."""
    document = json.dumps(
        {"keys": [{"kty": "oct", "kid": "tokenconform", "k": jwt_probes.b64url_encode(key)}]}
    ).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(document)))
            self.end_headers()
            self.wfile.write(document)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="tokenconform-jwks", daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


#: kid values that make a naive key lookup use a key anyone can predict, with that key. A server
#: that reads the key from the file the kid names (jwt_tool -X i), or selects it with SQL built
#: from the kid, verifies a token the attacker signed (RFC 8725 §3.10; ASVS 5.0 V9.1.3).
_PREDICTABLE_KIDS: tuple[tuple[str, str, bytes], ...] = (
    ("kid /dev/null, empty key", "/dev/null", b""),
    ("kid path traversal to /dev/null, empty key", "../../../dev/null", b""),
    ("kid deep path traversal to /dev/null, empty key", "../../../../../../../../dev/null", b""),
    # Its content is the same on every Linux host; no file of ours is read to know it.
    ("kid /proc/sys/kernel/ostype, key 'Linux\\n'", "/proc/sys/kernel/ostype", b"Linux\n"),
    ("kid path traversal to /proc/sys/kernel/ostype", "../../../../../../proc/sys/kernel/ostype", b"Linux\n"),
    ("kid SQL injection choosing the key 'key'", "' UNION SELECT 'key'--", b"key"),
    ("kid SQL injection choosing the key 'tokenconform'", "x' UNION SELECT 'tokenconform' -- ", b"tokenconform"),
    ("kid SQL injection, no row is an empty key", "' AND 1=0 UNION SELECT ''--", b""),
    ("kid naming an empty key by an unknown id", "tokenconform-" + secrets.token_hex(4), b""),
)


# ASVS 5.0 V9.1.3: "Verify that key material that is used to validate self-contained tokens is
# from trusted pre-configured sources for the token issuer, preventing attackers from specifying
# untrusted sources and keys."
@requirement("TOK-05")
def header_key_material_is_not_trusted(ctx: CheckContext) -> None:
    """Tokens signed with a key the header names (jwk, jku, x5u) or a kid makes predictable are refused."""
    device, tokens = _login(ctx)
    parts = _parts(tokens.access_token, "access token")
    payload = parts.payload
    key = secrets.token_bytes(32)
    base = {k: v for k, v in parts.header.items() if k not in ("kid", "jwk", "jku", "x5u", "x5c")}
    with _jwks_server(key) as jwks_url:
        forgeries = [
            (
                "embedded jwk (oct) holding the signing key",
                jwt_probes.sign_hs(
                    {**base, "jwk": {"kty": "oct", "k": jwt_probes.b64url_encode(key)}}, payload, key, "HS256"
                ),
            ),
            (
                "jku naming a JWKS the suite serves",
                jwt_probes.sign_hs({**base, "jku": jwks_url, "kid": "tokenconform"}, payload, key, "HS256"),
            ),
            ("x5u naming a URL the suite serves", jwt_probes.sign_hs({**base, "x5u": jwks_url}, payload, key, "HS256")),
        ]
        forgeries += [
            (label, jwt_probes.sign_hs({**base, "kid": kid}, payload, predictable, "HS256"))
            for label, kid, predictable in _PREDICTABLE_KIDS
        ]
        present_forgeries(
            ctx, device, tokens, forgeries, because="a token signed with a key the token itself named was accepted"
        )


def _pad(segment: str) -> str:
    return segment + "=" * (-len(segment) % 4)


# RFC 7519 §7.2: "If any of the listed steps fail, then the JWT MUST be rejected -- that is,
# treated by the application as an invalid input."
@requirement("TOK-06")
def only_compact_jws_is_accepted(ctx: CheckContext) -> None:
    """JSON serialization, 2/4/5 segments, '='-padded or '+/' base64 of a valid token: each is refused."""
    device, tokens = _login(ctx)
    parts = _parts(tokens.access_token, "access token")
    h, p, s = parts.header_segment, parts.payload_segment, parts.signature_segment
    forgeries = [
        ("JWS JSON serialization (flattened)", json.dumps({"protected": h, "payload": p, "signature": s})),
        (
            "JWS JSON serialization (general)",
            json.dumps({"payload": p, "signatures": [{"protected": h, "signature": s}]}),
        ),
        ("two segments", f"{h}.{p}"),
        ("four segments", f"{h}.{p}.{s}.{s}"),
        ("five segments (JWE shape)", f"{h}.{p}.{s}.AAAA.AAAA"),
    ]
    # RFC 7515 §2: base64url "with all trailing '=' characters omitted" and the URL-safe alphabet.
    # Altering the signature segment keeps the signing input intact, so only a strict decoder
    # refuses these; a lenient one decodes them to the very same signature.
    for index, segment in ((2, s), (1, p), (0, h)):
        if len(segment) % 4:
            segments = [h, p, s]
            segments[index] = _pad(segment)
            forgeries.append((f"'='-padded {('header', 'payload', 'signature')[index]} segment", ".".join(segments)))
            break
    for index, segment in ((2, s), (1, p), (0, h)):
        if "-" in segment or "_" in segment:
            segments = [h, p, s]
            segments[index] = segment.replace("-", "+").replace("_", "/")
            forgeries.append(
                (f"'+/' base64 in the {('header', 'payload', 'signature')[index]} segment", ".".join(segments))
            )
            break
    present_forgeries(ctx, device, tokens, forgeries, because="a token that is not a compact JWS was accepted")


# ---------------------------------------------------------------- TOK-07 / TOK-08: confusion


# RFC 8725 §2.8: "If the JWT could be used in an application context in which it could be
# confused with other kinds of JWTs, then mitigations MUST be employed to prevent these
# substitution attacks."
@requirement("TOK-07")
def refresh_token_rejected_as_access_token(ctx: CheckContext) -> None:
    """A refresh token presented to the protected resource (Bearer header, access cookie) is refused."""
    device, tokens = _login(ctx)
    for via in ctx.profile.protected.present:
        response = device.call_protected(tokens.refresh_token, via=via)
        ctx.require_unexpired(tokens.refresh_expiry, response.sent_at, "the refresh token")
        expect.rejected(response, because=f"a refresh token opened the protected resource (presented by {via})")
    still_valid(ctx, device, tokens)


# RFC 8725 §2.8: "If the JWT could be used in an application context in which it could be
# confused with other kinds of JWTs, then mitigations MUST be employed to prevent these
# substitution attacks."
@requirement("TOK-08")
def access_token_rejected_at_refresh_endpoint(ctx: CheckContext) -> None:
    """An access token presented where a refresh token belongs is refused, by every declared way."""
    for via in ctx.profile.refresh.present:
        device = ctx.new_device()
        tokens = device.login()
        response = device.refresh_exchange(tokens.access_token, via=via)
        ctx.require_unexpired(tokens.access_expiry, response.sent_at, "the access token")
        expect.rejected(response, because=f"an access token was exchanged for new tokens (presented by {via})")
        # The oracle: the real refresh token still works, so the refusal was about the token kind.
        device.refresh(tokens.refresh_token, via=via)


# ---------------------------------------------------------------- TOK-09 .. TOK-14: what is issued

#: payload claims that some issuers use to mark the token kind instead of the typ header
_KIND_CLAIMS = ("token_type", "token_use", "tokenType", "type", "typ", "kind")


# RFC 8725 §3.11: "Explicit typing is RECOMMENDED for new uses of JWTs."
@requirement("TOK-09")
def access_and_refresh_tokens_are_explicitly_typed(ctx: CheckContext) -> None:
    """The two kinds carry distinct typ header values (or distinct values of a token-kind claim)."""
    tokens = ctx.new_device().login()
    access, refresh = decode_unverified(tokens.access_token), decode_unverified(tokens.refresh_token)
    if access is None or refresh is None:
        raise CheckSkipped("explicit JWT typing applies to JWTs; at least one issued token is opaque")
    access_typ = jwt_probes.normalise_typ(access[0].get("typ"))
    refresh_typ = jwt_probes.normalise_typ(refresh[0].get("typ"))
    if access_typ and refresh_typ and access_typ != refresh_typ:
        return
    for claim in _KIND_CLAIMS:
        a, r = access[1].get(claim), refresh[1].get(claim)
        if a is not None and r is not None and a != r:
            return
    raise expect.fail(
        "access and refresh tokens are not explicitly typed apart",
        expected="distinct typ header values (e.g. at+jwt and rt+jwt) or a distinct token-kind claim",
        actual=f"access typ {access[0].get('typ')!r}, refresh typ {refresh[0].get('typ')!r}, no distinguishing claim",
        exchanges=[tokens.exchange],
    )


_SECRET_NAME_PARTS = frozenset({"password", "passwd", "pwd", "passphrase", "pass", "secret", "hash", "salt"})
#: OpenID Connect's token-binding hashes are not secrets
_ALLOWED_NAMES = frozenset({"at_hash", "c_hash", "s_hash"})
_HASH_VALUE = re.compile(
    r"^(?:\$2[abxy]?\$\d{2}\$[./A-Za-z0-9]{53}"  # bcrypt
    r"|\$argon2(?:id|i|d)\$.+"  # argon2
    r"|\$(?:scrypt|7|pbkdf2(?:-sha\d+)?|[156])\$.+"  # scrypt, pbkdf2, md5/sha-crypt
    r"|pbkdf2_sha\d+\$\d+\$.+"  # Django
    r"|(?:pbkdf2|scrypt):[^$]+\$.+)$"  # Werkzeug
)


def _name_parts(name: str) -> set[str]:
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    return {part for part in re.split(r"[^a-z0-9]+", snake) if part}


def _secret_findings(document: Any, password: str, path: str = "") -> Iterator[str]:
    if isinstance(document, dict):
        for key, value in document.items():
            where = f"{path}.{key}" if path else str(key)
            if str(key) not in _ALLOWED_NAMES and (
                _name_parts(str(key)) & _SECRET_NAME_PARTS or "password" in str(key).lower()
            ):
                yield f"claim {where!r} is named like a secret"
            yield from _secret_findings(value, password, where)
    elif isinstance(document, list):
        for index, item in enumerate(document):
            yield from _secret_findings(item, password, f"{path}[{index}]")
    elif isinstance(document, str):
        if _HASH_VALUE.match(document):
            yield f"claim {path!r} holds a password hash ({document[:7]}…)"
        if password and password in document:
            yield f"claim {path!r} holds the submitted password"


# ASVS 5.0 V14.1.1: "This includes data that is only encoded and therefore easily decoded, such
# as Base64 strings or the plaintext payload inside a JWT."
@requirement("TOK-10")
def token_payloads_carry_no_secrets(ctx: CheckContext) -> None:
    """No claim of either token is named like a password or secret, or holds a hash or the password."""
    device = ctx.new_device()
    tokens = device.login()
    for what, token in (("access token", tokens.access_token), ("refresh token", tokens.refresh_token)):
        decoded = decode_unverified(token)
        if decoded is None:
            continue  # an opaque token carries nothing readable
        findings = list(_secret_findings(decoded[1], device.user.password))
        expect.that(
            not findings,
            f"the {what}'s payload, readable by anyone who holds it, carries secret material",
            expected="no password, hash or secret in the payload",
            actual="; ".join(findings),
            exchanges=[tokens.exchange],
        )


def _all_distinct(issued: list[Tokens], what: str) -> None:
    seen: dict[str, str] = {}
    for index, tokens in enumerate(issued, 1):
        for kind, token, claims in (
            ("access token", tokens.access_token, tokens.access_claims),
            ("refresh token", tokens.refresh_token, tokens.refresh_claims),
        ):
            if kind == "refresh token" and not tokens.refresh_sources:
                continue  # a refresh without a new refresh token (RFC 6749 §6) issued none to compare
            label = f"{kind} of {what} #{index}"
            expect.that(
                token not in seen,
                f"the same token was issued twice: {label} equals the {seen.get(token)}",
                expected="a distinct token per issuance",
                actual="two issuances returned identical tokens",
                exchanges=[tokens.exchange],
            )
            seen[token] = label
            jti = (claims or {}).get("jti")
            if jti is not None:
                key = f"jti:{kind}:{jti}"
                expect.that(
                    key not in seen,
                    f"the same jti was issued twice: {label} repeats the jti of the {seen.get(key)}",
                    expected="a distinct jti per token",
                    actual=f"jti {jti!r} twice",
                    exchanges=[tokens.exchange],
                )
                seen[key] = label


#: logins (and then refreshes) issued within about a second
_ISSUANCES = 5


# RFC 6749 §10.10: "The probability of an attacker guessing generated tokens (and other
# credentials not intended for handling by end-users) MUST be less than or equal to 2^(-128) and
# SHOULD be less than or equal to 2^(-160)."
@requirement("TOK-11")
def tokens_are_unique_per_issuance(ctx: CheckContext) -> None:
    """Logins and refreshes in the same second give pairwise distinct tokens and jti values."""
    user = ctx.new_user()
    devices = [ctx.new_device(user, label=f"login-{n}") for n in range(_ISSUANCES)]
    # Concurrent, so that the issuances share their iat second even on a slow (high-cost) target.
    with ThreadPoolExecutor(max_workers=_ISSUANCES) as pool:
        logins = list(pool.map(lambda device: device.login(spaced=False), devices))
    _all_distinct(logins, "login")
    with ThreadPoolExecutor(max_workers=_ISSUANCES) as pool:
        pairs = zip(devices, logins, strict=True)
        refreshes = list(pool.map(lambda pair: pair[0].refresh(pair[1].refresh_token, spaced=False), pairs))
    # A refresh that hands the presented refresh token back (no rotation: RFC 6749 §6 allows it,
    # ROT-01 judges it) issued no new one; only its access token is an issuance here.
    refreshes = [
        dataclasses.replace(new, refresh_sources=frozenset()) if new.refresh_token == old.refresh_token else new
        for old, new in zip(logins, refreshes, strict=True)
    ]
    _all_distinct(logins + refreshes, "login or refresh")


# ---------------------------------------------------------------- minting: TOK-12 here, EXP-05 in expiry.py

#: An edit of a token's claims: the edited claims, or None when it does not apply to this token.
ClaimsEdit = Callable[[dict[str, Any]], "dict[str, Any] | None"]


def minted_claims_are_rejected(
    ctx: CheckContext, edits: Sequence[tuple[str, ClaimsEdit]], *, because: str, what: str
) -> None:
    """Tokens re-signed with the deployment's own keys but with edited claims are refused.

    Access tokens go to the protected resource (with ``TOKENCONFORM_ACCESS_SECRET``), refresh
    tokens to the refresh endpoint (with ``TOKENCONFORM_REFRESH_SECRET``); either key may also
    come from the TOK-04 dictionary. Without a key for either kind the check skips, naming the
    env vars: black-box, a forged claim cannot be told apart from a forged signature.
    """
    device, tokens = _login(ctx)
    judged: list[str] = []
    not_judged: list[str] = []
    missing_key = False
    for kind, token in (("access", tokens.access_token), ("refresh", tokens.refresh_token)):
        try:
            parts = jwt_probes.split(token)
        except ValueError:
            not_judged.append(f"the {kind} token is opaque")
            continue
        if parts.alg not in jwt_probes.HS_ALGORITHMS:
            not_judged.append(f"the {kind} token is signed with {parts.alg or 'no algorithm'}, not HMAC")
            continue
        known = minting_key(ctx, token, kind)
        if known is None:
            not_judged.append(f"{SECRET_ENVS[kind]} is not set")
            missing_key = True
            continue
        key, source = known
        forgeries = []
        for label, edit in edits:
            edited = edit(dict(parts.payload))
            if edited is not None:
                forgeries.append((label, jwt_probes.sign_hs(parts.header, edited, key, parts.alg)))
        if not forgeries:
            not_judged.append(f"no probe applies to the {kind} token's claims")
            continue
        judged.append(kind)
        if kind == "access":
            minted_tokens_are_accepted(ctx, device, parts, key, source)
            present_forgeries(ctx, device, tokens, forgeries, because=f"{because} (access token)")
        else:
            _refresh_forgeries_rejected(ctx, device, tokens, forgeries, because=f"{because} (refresh token)")
    if not judged:
        # The remedy only where a key was what was missing: with both keys given, tokens that
        # carry none of the claims the probes edit leave nothing to judge, and no setting helps.
        remedy = (
            f". Set {ACCESS_SECRET_ENV} and {REFRESH_SECRET_ENV} to the HMAC secrets of a test deployment to "
            "enable this check"
            if missing_key
            else ""
        )
        raise CheckSkipped(f"{what} needs validly signed tokens with edited claims: {'; '.join(not_judged)}{remedy}")


def _refresh_forgeries_rejected(
    ctx: CheckContext, device: Device, tokens: Tokens, forgeries: Sequence[tuple[str, str]], *, because: str
) -> None:
    """Each forged refresh token is refused by every declared presentation; the original still refreshes."""
    for label, forged in forgeries:
        for via in ctx.profile.refresh.present:
            response = device.refresh_exchange(forged, via=via)
            ctx.require_unexpired(
                tokens.refresh_claims, response.sent_at, "the refresh token the forgery was made from"
            )
            expect.rejected(response, because=f"{because} ({label}, presented by {via})")
    # The oracle: the untouched refresh token still works, so the refusals were about the claims
    # (and no forgery was taken as a replay that revoked the family).
    response = device.refresh_exchange(tokens.refresh_token)
    if response.status not in ctx.profile.refresh.endpoint.success_status:
        ctx.require_unexpired(tokens.refresh_expiry, response.sent_at, "the original refresh token")
        raise CalibrationError(
            f"the original refresh token was refused ({response.status}) after the forged ones, so their "
            "rejection proves nothing: does the target revoke a session on a bad token?",
            evidence=[response.describe()],
        )


#: An issuer and an audience no deployment uses (RFC 2606 reserves .invalid).
OTHER_ISSUER = "https://issuer.tokenconform.invalid"
OTHER_AUDIENCE = "https://audience.tokenconform.invalid"


def _other_issuer(claims: dict[str, Any]) -> dict[str, Any] | None:
    return {**claims, "iss": OTHER_ISSUER} if "iss" in claims else None


def _other_audience(claims: dict[str, Any]) -> dict[str, Any] | None:
    return {**claims, "aud": OTHER_AUDIENCE} if "aud" in claims else None


def _other_audiences_listed(claims: dict[str, Any]) -> dict[str, Any] | None:
    # RFC 7519 §4.1.3: aud may be an array; the token is for us only if one element names us.
    return {**claims, "aud": [OTHER_AUDIENCE, OTHER_ISSUER]} if "aud" in claims else None


# RFC 8725 §3.8: "When a JWT contains an "iss" (issuer) claim, the application MUST validate that
# the cryptographic keys used for the cryptographic operations in the JWT belong to the issuer. If
# they do not, the application MUST reject the JWT."
@requirement("TOK-12")
def tokens_for_another_issuer_or_audience_are_rejected(ctx: CheckContext) -> None:
    """The issued tokens re-signed with their own keys but naming another iss or aud are refused."""
    minted_claims_are_rejected(
        ctx,
        [
            ("iss of another issuer", _other_issuer),
            ("aud of another audience", _other_audience),
            ("aud listing only other audiences", _other_audiences_listed),
        ],
        because="a token minted for another issuer or audience was accepted",
        what="judging iss and aud",
    )


def _seconds(value: object) -> float | None:
    """A NumericDate claim as a float; None when absent or not a number (JSON true is not one)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


# RFC 7519 §4.1.4: "The "exp" (expiration time) claim identifies the expiration time on or after
# which the JWT MUST NOT be accepted for processing."
@requirement("TOK-13")
def issued_tokens_are_jwts_with_exp_and_iat(ctx: CheckContext) -> None:
    """Login and refresh tokens are compact JWTs with numeric exp and iat, exp after iat."""
    device = ctx.new_device()
    login = device.login()
    refreshed = device.refresh(login.refresh_token)
    for what, tokens in (("login", login), ("refresh", refreshed)):
        for kind, token in (("access token", tokens.access_token), ("refresh token", tokens.refresh_token)):
            decoded = decode_unverified(token)
            if decoded is None and ctx.profile.token_format != "jwt":
                # Opaque tokens are legitimate (RFC 6749 §1.4); only a profile that promises JWTs
                # is held to the JWT format. Their expiry is judged from expires_in by EXP-*.
                ctx.require_jwt(token, f"{kind} from {what}")
            expect.that(
                decoded is not None,
                f"the {kind} from {what} is not a compact JWT",
                expected="three base64url segments: JSON header, JSON payload, signature",
                actual=f"{token[:24]}…",
                exchanges=[tokens.exchange],
            )
            assert decoded is not None
            claims = decoded[1]
            exp, iat = _seconds(claims.get("exp")), _seconds(claims.get("iat"))
            expect.that(
                exp is not None and iat is not None and exp > iat,
                f"the {kind} from {what} lacks a numeric exp after a numeric iat",
                expected="numeric exp and iat with exp > iat",
                actual=f"exp={claims.get('exp')!r}, iat={claims.get('iat')!r}",
                exchanges=[tokens.exchange],
            )


# RFC 6819 §5.1.5.3: "A short expiration time for tokens is a means of protection against the
# following threats:"
@requirement("TOK-14")
def token_lifetimes_stay_within_declared_maxima(ctx: CheckContext) -> None:
    """exp - iat is at most the profile's max_access_ttl (access) and max_refresh_ttl (refresh)."""
    policy = ctx.profile.policy
    tokens = ctx.new_device().login()
    issued_at = tokens.exchange.server_date or tokens.exchange.received_at
    for kind, claims, maximum, key in (
        ("access token", tokens.access_claims, policy.max_access_ttl, "max_access_ttl"),
        ("refresh token", tokens.refresh_claims, policy.max_refresh_ttl, "max_refresh_ttl"),
    ):
        if claims is None:
            raise CheckSkipped(f"the {kind} is opaque; its lifetime cannot be read (EXP checks wait it out)")
        exp, iat = _seconds(claims.get("exp")), _seconds(claims.get("iat"))
        if exp is None:
            raise expect.fail(
                f"the {kind} has no numeric exp: its lifetime is unbounded",
                expected=f"exp - iat <= {maximum} s",
                actual=f"exp={claims.get('exp')!r}",
                exchanges=[tokens.exchange],
            )
        lifetime = exp - (iat if iat is not None else issued_at)
        expect.that(
            lifetime <= maximum,
            f"the {kind} lives longer than the profile's policy.{key}",
            expected=f"exp - iat <= {maximum} s",
            actual=f"exp - iat = {lifetime:.0f} s",
            exchanges=[tokens.exchange],
        )
