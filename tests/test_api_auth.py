import uuid

import pytest


def fresh():
    name = "a" + uuid.uuid4().hex[:10]
    return {"email": f"{name}@example.com", "username": name, "password": "trilobite-99"}


def test_register_login_me(api):
    body = fresh()
    created = api.post("/auth/register", json=body)
    assert created.status_code == 201
    token = created.json()
    assert token["token_type"] == "bearer" and token["user"]["tier"] == "free"
    assert token["user"]["email"] == body["email"]
    logged_in = api.post("/auth/login", json={"email": body["email"].upper(),
                                                 "password": body["password"]})
    assert logged_in.status_code == 200
    bearer = {"Authorization": f"Bearer {logged_in.json()['access_token']}"}
    me = api.get("/auth/me", headers=bearer)
    assert me.status_code == 200 and me.json()["username"] == body["username"]
    assert "password_hash" not in me.json()


def test_taken_email_or_username_is_400(api):
    body = fresh()
    assert api.post("/auth/register", json=body).status_code == 201
    again = api.post("/auth/register", json={**body, "username": body["username"] + "x"})
    assert again.status_code == 400 and "already registered" in again.json()["detail"]
    same_name = api.post("/auth/register", json={**fresh(), "username": body["username"]})
    assert same_name.status_code == 400


@pytest.mark.parametrize(
    "change,needle",
    [
        ({"password": "short"}, "at least 8"),
        ({"password": "é" * 37}, "72 bytes"),  # 74 bytes: bcrypt's limit, never a 500
        ({"email": "not-an-email"}, "email"),
        ({"username": "no spaces allowed"}, "username"),
        ({"username": 12345}, "username"),
        ({"password": None}, "password"),
    ],
)
def test_register_validation_is_400_with_a_message(api, change, needle):
    response = api.post("/auth/register", json={**fresh(), **change})
    assert response.status_code == 400, response.text
    assert needle in response.json()["detail"]


def test_malformed_and_missing_bodies(api):
    broken = api.post("/auth/register", content=b"{not json",
                         headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and "detail" in broken.json()
    missing = api.post("/auth/login", json={"email": "x@example.com"})
    assert missing.status_code == 400 and "password" in missing.json()["detail"]
    not_utf8 = api.post("/auth/login", content=b"\xff\xfe\x00garbage",
                           headers={"Content-Type": "application/json"})
    assert not_utf8.status_code == 400


def test_login_failures_are_uniform(api, user):
    wrong_password = api.post("/auth/login", json={"email": user["email"],
                                                      "password": "not-the-password"})
    unknown_user = api.post("/auth/login", json={"email": "nobody@example.com",
                                                    "password": "not-the-password"})
    assert wrong_password.status_code == unknown_user.status_code == 401
    assert wrong_password.json() == unknown_user.json()


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer"}, {"Authorization": "Bearer abc.def.ghi"},
     {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer " + "x" * 5000}],
)
def test_protected_routes_need_a_valid_token(api, headers):
    for method, path in [("GET", "/auth/me"), ("GET", "/jobs"), ("GET", "/result/abc"),
                         ("POST", "/classify-async/")]:
        response = api.request(method, path, headers=headers)
        assert response.status_code == 401, (path, response.text)
        assert response.json()["detail"]


def test_token_of_a_user_that_no_longer_exists(api, settings):
    from auth import tokens

    token = tokens.issue("ghost", settings["jwt_secret"], 60)
    assert api.get("/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401

