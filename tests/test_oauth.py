"""POST /auth/oauth/signin against a loopback Supabase Auth (JWKS + GoTrue)."""

import time
import uuid

import jwt
import pytest

from tests.support import register


def signin(api, token):
    return api.post("/auth/oauth/signin", headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize("alg", ["ES256", "RS256"])
def test_google_sign_in_creates_then_finds_the_profile(api, supabase, alg):
    kid = supabase.new_key(alg)
    claims = supabase.claims()
    first = signin(api, supabase.sign(claims, kid))
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["user"]["email"] == claims["email"] and body["user"]["provider"] == "google"
    assert body["access_token"] and body["refresh_token"]
    assert body["user"]["display_name"] == "Mary Anning"
    me = api.get("/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["id"] == body["user"]["id"]
    assert me.json()["avatar_url"] == "https://example.com/mary.png"
    again = signin(api, supabase.sign({**claims, "iat": int(time.time())}, kid))
    assert again.json()["user"]["id"] == body["user"]["id"]


def test_a_key_published_later_is_fetched_on_its_unknown_kid(api, supabase):
    known = supabase.new_key()
    signin(api, supabase.sign(supabase.claims(), known))  # JWKS cached
    fetches = supabase.jwks_fetches
    assert signin(api, supabase.sign(supabase.claims(), known)).status_code == 200
    assert supabase.jwks_fetches == fetches  # a known kid is served from the cache
    rotated = supabase.new_key()  # the project rotates its signing key
    assert signin(api, supabase.sign(supabase.claims(), rotated)).status_code == 200
    assert supabase.jwks_fetches == fetches + 1


def bad_tokens(supabase):
    kid = supabase.new_key()
    good = supabase.claims()
    forger = supabase.new_key(publish=False)
    forged = supabase.sign(good, forger).split(".")
    header = supabase.sign(good, kid).split(".")[0]
    none_token = jwt.encode(good, None, algorithm="none")
    return {
        "forged signature": f"{header}.{forged[1]}.{forged[2]}",
        "wrong audience": supabase.sign({**good, "aud": "anon"}, kid),
        "wrong issuer": supabase.sign({**good, "iss": "https://evil.example/auth/v1"}, kid),
        "expired": supabase.sign({**good, "exp": int(time.time()) - 60}, kid),
        "alg none": none_token,
        "unknown kid": supabase.sign(good, forger),
        "foreign HS256": jwt.encode(good, "guessed-secret", algorithm="HS256"),
        "no sub": supabase.sign({k: v for k, v in good.items() if k != "sub"}, kid),
        "garbage": "not.a.jwt",
    }


def test_every_bad_token_is_401(api, supabase):
    for name, token in bad_tokens(supabase).items():
        response = signin(api, token)
        assert response.status_code == 401, (name, response.text)
        assert response.json()["detail"], name


def test_missing_authorization_is_401(api):
    assert api.post("/auth/oauth/signin").status_code == 401


def test_legacy_hs256_projects_ask_gotrue(api, supabase):
    email = f"legacy{uuid.uuid4().hex[:6]}@example.com"
    response = signin(api, supabase.legacy_token(email))
    assert response.status_code == 200 and response.json()["user"]["email"] == email


def test_a_password_account_is_never_linked_silently_but_can_be_linked(api, supabase):
    account = register(api)
    kid = supabase.new_key()
    token = supabase.sign(supabase.claims(email=account["email"]), kid)
    refused = signin(api, token)
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "account_exists"
    assert "/auth/oauth/link" in refused.json()["detail"]
    # The owner signs in with the password and links the Google sign-in, once.
    headers = account["headers"]
    linked = api.post("/auth/oauth/link", headers=headers,
                      json={"supabase_access_token": token})
    assert linked.status_code == 200, linked.text
    assert linked.json()["id"] == account["id"]
    assert api.post("/auth/oauth/link", headers=headers,
                    json={"supabase_access_token": token}).status_code == 200  # no change
    assert signin(api, token).json()["user"]["id"] == account["id"]
    # Another account can't take it over; linking needs a Paleon sign-in and a valid token.
    other = register(api)
    taken = api.post("/auth/oauth/link", headers=other["headers"],
                     json={"supabase_access_token": token})
    assert taken.status_code == 409 and taken.json()["code"] == "identity_taken"
    assert api.post("/auth/oauth/link",
                    json={"supabase_access_token": token}).status_code == 401
    assert api.post("/auth/oauth/link", headers=headers,
                    json={"supabase_access_token": "not.a.jwt"}).status_code == 401


def test_an_address_google_did_not_verify_for_that_identity_links_nothing(api, supabase):
    """Audit round 3: with email autoconfirm GoTrue confirms anyone's sign-up, and a user may
    change the email of a Google account. Only the Google identity's own verified email
    counts."""
    from tests.fake_supabase import identity

    kid = supabase.new_key()
    victim = f"victim{uuid.uuid4().hex[:6]}@example.com"
    # Google-provider account whose email was changed to the victim's afterwards.
    changed = supabase.claims(email=victim)
    supabase.identities[changed["sub"]] = [
        identity(changed["sub"], "google", "attacker@gmail.com", verified=True)]
    assert signin(api, supabase.sign(changed, kid)).status_code == 403
    # An autoconfirmed email sign-up, claiming to be google in a forged user_metadata.
    autoconfirmed = supabase.claims(email=victim, app_metadata={"provider": "email"},
                                    user_metadata={"email_verified": True})
    assert signin(api, supabase.sign(autoconfirmed, kid)).status_code == 403


def test_an_unverified_email_neither_links_nor_creates(api, supabase):
    account = register(api)
    kid = supabase.new_key()
    # user_metadata is user-editable: a self-asserted "verified" flag must not count.
    forged_flag = supabase.claims(email=account["email"], app_metadata={"provider": "email"},
                                  user_metadata={"email_verified": True})
    refused = signin(api, supabase.sign(forged_flag, kid))
    assert refused.status_code == 403 and "verified" in refused.json()["detail"]
    squatter = supabase.claims(app_metadata={"provider": "email"})  # no account yet
    assert signin(api, supabase.sign(squatter, kid)).status_code == 403
    unconfirmed = signin(api, supabase.legacy_token(account["email"], confirmed=False))
    assert unconfirmed.status_code == 403


def test_an_outage_is_503_not_401(api, supabase):
    supabase.server.shutdown()  # Supabase Auth unreachable
    try:
        kid_token = supabase.legacy_token("outage@example.com")
        response = signin(api, kid_token)
    finally:
        supabase.restart()
    assert response.status_code == 503 and "try again" in response.json()["detail"]
