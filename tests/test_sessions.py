"""Refresh-token rotation, replay detection and logout, over HTTP."""

import uuid

import pytest


def sign_up(client):
    name = "s" + uuid.uuid4().hex[:10]
    body = {"email": f"{name}@example.com", "username": name, "password": "session-pass-7"}
    return client.post("/auth/register", json=body).json()


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_refresh_rotates_and_a_replay_revokes_the_family(client):
    first = sign_up(client)
    assert first["refresh_token"] and first["expires_in"] == 900
    second = client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    second = second.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["user"]["id"] == first["user"]["id"]
    assert client.get("/auth/me", headers=bearer(second["access_token"])).status_code == 200

    replay = client.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401 and "already used" in replay.json()["detail"]
    # The thief's replay revoked the legitimate holder's newer token too.
    after = client.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert after.status_code == 401


def test_logout_revokes_the_access_and_refresh_tokens(client):
    session = sign_up(client)
    headers = bearer(session["access_token"])
    out = client.post("/auth/logout", json={"refresh_token": session["refresh_token"]},
                      headers=headers)
    assert out.status_code == 204
    assert client.get("/auth/me", headers=headers).status_code == 401
    again = client.post("/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert again.status_code == 401


def test_sign_ins_are_independent(client):
    session = sign_up(client)
    login = client.post("/auth/login", json={"email": session["user"]["email"],
                                             "password": "session-pass-7"}).json()
    client.post("/auth/logout", json={"refresh_token": login["refresh_token"]},
                headers=bearer(login["access_token"]))
    # The first sign-in (register) keeps working.
    assert client.get("/auth/me", headers=bearer(session["access_token"])).status_code == 200
    renewed = client.post("/auth/refresh", json={"refresh_token": session["refresh_token"]})
    assert renewed.status_code == 200


@pytest.mark.parametrize(
    "token", ["", "no-dot", "abc.def", "zz" * 16 + ".secret", "x" * 300, "a b.c", "../..x"]
)
def test_bad_refresh_tokens(client, token):
    response = client.post("/auth/refresh", json={"refresh_token": token})
    assert response.status_code in (400, 401) and response.json()["detail"]


def test_logout_needs_a_token(client):
    assert client.post("/auth/logout", json={}).status_code == 401


def test_logout_without_a_body_revokes_the_access_token(client):
    session = sign_up(client)
    headers = bearer(session["access_token"])
    assert client.post("/auth/logout", headers=headers).status_code == 204
    assert client.get("/auth/me", headers=headers).status_code == 401
