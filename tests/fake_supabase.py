"""A loopback stand-in for Supabase Auth: the JWKS endpoint and GoTrue's GET /auth/v1/user,
which answers in GoTrue's shape, identities (with the provider's `identity_data`) included."""

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

ANON_KEY = "anon-test-key"


class FakeSupabase:
    def __init__(self):
        self.keys: dict[str, tuple[str, object]] = {}  # kid -> (alg, private key)
        self.published: set[str] = set()
        self.legacy_users: dict[str, dict] = {}  # HS256 token -> GoTrue user
        # sub -> the user's identities as GoTrue lists them, when a test sets them; else one
        # identity of the token's provider, its email verified by Google-like providers.
        self.identities: dict[str, list[dict]] = {}
        self.jwks_fetches = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def restart(self) -> None:
        """Serve again on the same port after `server.shutdown()` (an outage in a test)."""
        port = self.server.server_address[1]
        self.server.server_close()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def new_key(self, alg: str = "ES256", publish: bool = True) -> str:
        private = (ec.generate_private_key(ec.SECP256R1()) if alg == "ES256"
                   else rsa.generate_private_key(public_exponent=65537, key_size=2048))
        kid = uuid.uuid4().hex[:12]
        self.keys[kid] = (alg, private)
        if publish:
            self.published.add(kid)
        return kid

    def claims(self, **overrides) -> dict:
        now = int(time.time())
        claims = {
            "iss": f"{self.url}/auth/v1", "aud": "authenticated", "sub": str(uuid.uuid4()),
            "email": f"g{uuid.uuid4().hex[:8]}@gmail.com", "iat": now, "exp": now + 3600,
            "role": "authenticated", "app_metadata": {"provider": "google"},
            "user_metadata": {"email_verified": True, "full_name": "Mary Anning",
                              "avatar_url": "https://example.com/mary.png"},
        }
        claims.update(overrides)
        return claims

    def sign(self, claims: dict, kid: str) -> str:
        alg, private = self.keys[kid]
        return jwt.encode(claims, private, algorithm=alg, headers={"kid": kid})

    def legacy_token(self, email: str, confirmed: bool = True) -> str:
        """An HS256 token of a legacy project; `confirmed`: Google verified the email."""
        token = jwt.encode({"sub": str(uuid.uuid4()), "aud": "authenticated"},
                           "legacy-project-secret", algorithm="HS256")
        user_id = str(uuid.uuid4())
        self.legacy_users[token] = {
            "id": user_id, "aud": "authenticated", "role": "authenticated",
            "email": email, "app_metadata": {"provider": "google"},
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            "email_confirmed_at": "2026-01-01T00:00:00Z",
            "user_metadata": {"full_name": "Legacy User"},
            "identities": [identity(user_id, "google", email, verified=confirmed)],
        }
        return token

    def user_of(self, claims: dict) -> dict:
        """GoTrue's user for a token's claims."""
        provider = (claims.get("app_metadata") or {}).get("provider", "email")
        return {
            "id": claims["sub"], "aud": "authenticated", "role": "authenticated",
            "email": claims.get("email"), "app_metadata": claims.get("app_metadata") or {},
            "user_metadata": claims.get("user_metadata") or {},
            "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
            # GoTrue confirms sign-ups itself where email autoconfirm is on.
            "email_confirmed_at": "2026-01-01T00:00:00Z",
            "identities": self.identities.get(claims["sub"]) or [identity(
                claims["sub"], provider, claims.get("email") or "",
                verified=provider in ("google", "apple", "azure"))],
        }

    def _jwks(self) -> dict:
        keys = []
        for kid in sorted(self.published):
            alg, private = self.keys[kid]
            codec = jwt.algorithms.ECAlgorithm if alg == "ES256" else jwt.algorithms.RSAAlgorithm
            jwk = codec.to_jwk(private.public_key(), as_dict=True)
            keys.append({**jwk, "kid": kid, "alg": alg, "use": "sig"})
        return {"keys": keys}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                if self.path == "/auth/v1/.well-known/jwks.json":
                    fake.jwks_fetches += 1
                    return self._reply(200, fake._jwks())
                if self.path == "/auth/v1/user":
                    token = self.headers.get("Authorization", "").removeprefix("Bearer ")
                    if self.headers.get("apikey") != ANON_KEY:
                        return self._reply(401, {"msg": "No API key found in request"})
                    if token in fake.legacy_users:
                        return self._reply(200, fake.legacy_users[token])
                    try:
                        claims = jwt.decode(token, options={"verify_signature": False})
                    except jwt.PyJWTError:
                        return self._reply(401, {"msg": "invalid JWT"})
                    if jwt.get_unverified_header(token).get("kid") not in fake.published:
                        return self._reply(401, {"msg": "invalid JWT"})
                    return self._reply(200, fake.user_of(claims))
                return self._reply(404, {"msg": "not found"})

            def _reply(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args) -> None:
                pass

        return Handler

    def close(self) -> None:
        self.server.shutdown()


def identity(user_id: str, provider: str, email: str, verified: bool) -> dict:
    """One of a GoTrue user's identities: what the provider said of the email."""
    return {"id": str(uuid.uuid4()), "identity_id": str(uuid.uuid4()), "user_id": user_id,
            "provider": provider, "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z", "last_sign_in_at": "2026-01-01T00:00:00Z",
            "identity_data": {"sub": user_id, "email": email, "email_verified": verified}}
