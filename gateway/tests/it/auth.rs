//! Route authentication end to end: each kind accepts valid credentials
//! and refuses missing, invalid (and, for JWT, expired) ones with 401 and
//! `WWW-Authenticate`; what the upstream receives (identity forwarded,
//! credential stripped, nothing at all on 401) is checked with wiremock
//! request matchers and `.expect(n)`.

use crate::common::{self, client, config, get, send, start};
use argon2::password_hash::{PasswordHasher, SaltString};
use base64::Engine;
use harness::jwt::JwtKeys;
use harness::{GatewayProcess, Template};
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// The response every authorised request gets from the mock.
const OK_BODY: &str = "from upstream";

/// A request whose header `name` is exactly one `value`.
fn only_header(name: &'static str, value: &'static str) -> impl Fn(&Request) -> bool {
    move |r: &Request| {
        let all: Vec<_> = r.headers.get_all(name).iter().collect();
        all.len() == 1 && all[0] == value
    }
}

/// A request without header `name`.
fn no_header(name: &'static str) -> impl Fn(&Request) -> bool {
    move |r: &Request| !r.headers.contains_key(name)
}

/// Fails the test if any request reaches the mock that no other mock
/// expects (lowest priority, expected never).
async fn nothing_else(server: &MockServer) {
    Mock::given(|_: &Request| true)
        .respond_with(ResponseTemplate::new(500).set_body_string("unexpected request"))
        .with_priority(u8::MAX)
        .expect(0)
        .named("any request not matched above")
        .mount(server)
        .await;
}

async fn gateway(server: &MockServer, routes: &str, vars: &[(&str, String)]) -> GatewayProcess {
    let body = format!(
        "clusters:\n  mock: {{ endpoints: [ {{ address: \"${{upstream.mock}}\" }} ] }}\nroutes:\n{routes}"
    );
    let mut template = Template::new(&config(&body)).upstream("mock", *server.address());
    for (k, v) in vars {
        template = template.var(k, v);
    }
    start(&template).await
}

fn basic(user: &str, password: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {b64}")
}

/// Asserts a 401 in the gateway's JSON form with `challenge`.
fn assert_refused(reply: &common::Reply, challenge: &str, what: &str) {
    assert_eq!(reply.status, 401, "{what}: {}", reply.body);
    assert_eq!(
        reply.header("www-authenticate"),
        Some(challenge),
        "{what}: WWW-Authenticate"
    );
    assert!(
        reply.json()["request_id"].is_string(),
        "{what}: body {}",
        reply.body
    );
}

async fn failures(gw: &GatewayProcess, route: &str, reason: &str) -> f64 {
    gw.metric(
        "gateway_auth_failures_total",
        &[("route", route), ("reason", reason)],
    )
    .await
}

#[tokio::test]
async fn api_keys_in_a_header_forward_the_key_name_and_never_the_key() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/k"))
        .and(only_header("x-client", "billing"))
        .and(no_header("x-api-key"))
        .and(no_header("x-gateway-identity"))
        .respond_with(ResponseTemplate::new(200).set_body_string(OK_BODY))
        .expect(2)
        .named("billing's requests, key stripped")
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/k"))
        .and(only_header("x-client", "key1"))
        .respond_with(ResponseTemplate::new(200).set_body_string(OK_BODY))
        .expect(1)
        .named("the unnamed key's request")
        .mount(&server)
        .await;
    nothing_else(&server).await;
    let gw = gateway(
        &server,
        r#"  - name: keyed
    match: { path_prefix: /k }
    cluster: mock
    auth:
      kind: api_key
      header: X-API-Key
      keys: [ { name: billing, key: "${AUTH_TEST_UNSET_KEY:-billing-secret-1}" }, "plain-secret-2" ]
      forward_as: X-Client
"#,
        &[],
    )
    .await;
    let ok = get(&gw, "/k", &[("x-api-key", "billing-secret-1")]).await;
    assert_eq!((ok.status, ok.body.as_str()), (200, OK_BODY));
    // A client-sent identity or carrier is replaced, never passed on.
    let forged = get(
        &gw,
        "/k",
        &[
            ("x-api-key", "billing-secret-1"),
            ("x-client", "admin"),
            ("x-gateway-identity", "admin"),
        ],
    )
    .await;
    assert_eq!(forged.status, 200);
    assert_eq!(
        get(&gw, "/k", &[("x-api-key", "plain-secret-2")])
            .await
            .status,
        200
    );

    let challenge = r#"ApiKey header="x-api-key""#;
    assert_refused(&get(&gw, "/k", &[]).await, challenge, "missing key");
    for bad in ["billing-secret-", "billing-secret-12", "BILLING-SECRET-1"] {
        assert_refused(&get(&gw, "/k", &[("x-api-key", bad)]).await, challenge, bad);
    }
    gw.wait_metric(
        "gateway_auth_failures_total",
        &[("route", "keyed"), ("reason", "invalid")],
        3.0,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(failures(&gw, "keyed", "missing").await, 1.0);
    assert_eq!(failures(&gw, "keyed", "expired").await, 0.0);
    server.verify().await;
}

#[tokio::test]
async fn query_keys_are_removed_from_the_query_unless_strip_is_false() {
    let server = MockServer::start().await;
    Mock::given(path("/q"))
        .and(|r: &Request| r.url.query() == Some("a=1&b=2"))
        .and(only_header("x-client", "key0"))
        .respond_with(ResponseTemplate::new(200).set_body_string(OK_BODY))
        .expect(1)
        .named("stripped query")
        .mount(&server)
        .await;
    Mock::given(path("/kept"))
        .and(only_header("x-api-key", "kept-secret"))
        .and(no_header("x-client"))
        .respond_with(ResponseTemplate::new(200).set_body_string(OK_BODY))
        .expect(1)
        .named("key passed on with strip: false")
        .mount(&server)
        .await;
    nothing_else(&server).await;
    let gw = gateway(
        &server,
        r#"  - match: { path_prefix: /q }
    cluster: mock
    auth: { kind: api_key, query: api_key, keys: [ "query-secret" ], forward_as: X-Client }
  - match: { path_prefix: /kept }
    cluster: mock
    auth: { kind: api_key, keys: [ "kept-secret" ], strip: false }
"#,
        &[],
    )
    .await;
    assert_eq!(
        get(&gw, "/q?a=1&api_key=query-secret&b=2", &[])
            .await
            .status,
        200
    );
    assert_refused(
        &get(&gw, "/q?a=1&api_key=wrong", &[]).await,
        r#"ApiKey query="api_key""#,
        "wrong query key",
    );
    // The key is read from the query only, not from the default header.
    assert_eq!(
        get(&gw, "/q?a=1", &[("x-api-key", "query-secret")])
            .await
            .status,
        401
    );
    assert_eq!(
        get(&gw, "/kept", &[("x-api-key", "kept-secret")])
            .await
            .status,
        200
    );
    server.verify().await;
}

#[tokio::test]
async fn basic_auth_checks_bcrypt_and_argon2_hashes() {
    let server = MockServer::start().await;
    for user in ["alice", "bob"] {
        Mock::given(path("/b"))
            .and(move |r: &Request| {
                r.headers.get("x-user").is_some_and(|v| v == user)
                    && !r.headers.contains_key("authorization")
            })
            .respond_with(ResponseTemplate::new(200).set_body_string(OK_BODY))
            .expect(2)
            .named(format!("{user}'s requests"))
            .mount(&server)
            .await;
    }
    nothing_else(&server).await;
    // Low-cost hashes: the gateway pays for whatever cost the hash names.
    let bcrypt_hash = bcrypt::hash("wonderland", 4).unwrap();
    let salt = SaltString::encode_b64(b"auth-test-salt").unwrap();
    let argon = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        argon2::Params::new(8, 1, 1, None).unwrap(),
    );
    let argon_hash = argon.hash_password(b"builder", &salt).unwrap().to_string();
    let gw = gateway(
        &server,
        r#"  - name: staff
    match: { path_prefix: /b }
    cluster: mock
    auth:
      kind: basic
      realm: staff area
      users: { alice: "${var.alice}", bob: "${var.bob}" }
      forward_as: X-User
"#,
        &[("var.alice", bcrypt_hash), ("var.bob", argon_hash)],
    )
    .await;
    for (user, password) in [("alice", "wonderland"), ("bob", "builder")] {
        for _ in 0..2 {
            let r = get(&gw, "/b", &[("authorization", &basic(user, password))]).await;
            assert_eq!((r.status, r.body.as_str()), (200, OK_BODY), "{user}");
        }
    }
    let challenge = r#"Basic realm="staff area", charset="UTF-8""#;
    assert_refused(&get(&gw, "/b", &[]).await, challenge, "no credentials");
    for (what, value) in [
        ("wrong password", basic("alice", "builder")),
        ("unknown user", basic("carol", "wonderland")),
        ("not base64", "Basic !!!".to_string()),
        ("other scheme", "Bearer abc".to_string()),
    ] {
        assert_refused(
            &get(&gw, "/b", &[("authorization", &value)]).await,
            challenge,
            what,
        );
    }
    gw.wait_metric(
        "gateway_auth_failures_total",
        &[("route", "staff"), ("reason", "invalid")],
        4.0,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    server.verify().await;
}

#[tokio::test]
async fn jwt_bearer_tokens_are_verified_with_a_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let keys = JwtKeys::generate(dir.path()).unwrap();
    let server = MockServer::start().await;
    Mock::given(path("/j"))
        .and(only_header("x-subject", harness::jwt::SUBJECT))
        .and(no_header("authorization"))
        .respond_with(ResponseTemplate::new(200).set_body_string(OK_BODY))
        .expect(1)
        .named("the valid token's request")
        .mount(&server)
        .await;
    nothing_else(&server).await;
    let gw = gateway(
        &server,
        r#"  - name: tokens
    match: { path_prefix: /j }
    cluster: mock
    auth:
      kind: jwt
      algorithms: [ES256]
      key_file: "${key}"
      issuer: gateway-tests
      audience: gateway
      leeway: 30s
      forward_as: X-Subject
"#,
        &[("key", keys.public_key().display().to_string())],
    )
    .await;
    let bearer = |t: String| format!("Bearer {t}");
    let valid = bearer(keys.sign(&JwtKeys::claims(600)));
    let r = get(&gw, "/j", &[("authorization", &valid)]).await;
    assert_eq!((r.status, r.body.as_str()), (200, OK_BODY));

    assert_refused(&get(&gw, "/j", &[]).await, "Bearer", "no token");
    let expired_challenge =
        r#"Bearer error="invalid_token", error_description="the token expired""#;
    let invalid_challenge =
        r#"Bearer error="invalid_token", error_description="the token is not valid""#;
    // Expired beyond the leeway; within it the token still passes (below).
    let expired = bearer(keys.sign(&JwtKeys::claims(-120)));
    assert_refused(
        &get(&gw, "/j", &[("authorization", &expired)]).await,
        expired_challenge,
        "expired",
    );
    let mut wrong_issuer = JwtKeys::claims(600);
    wrong_issuer["iss"] = "someone-else".into();
    let mut wrong_audience = JwtKeys::claims(600);
    wrong_audience["aud"] = "another-api".into();
    let mut not_yet = JwtKeys::claims(600);
    not_yet["nbf"] = (harness::jwt::now_secs() + 300).into();
    for (what, token) in [
        (
            "bad signature",
            bearer(keys.sign_unrelated(&JwtKeys::claims(600))),
        ),
        ("wrong issuer", bearer(keys.sign(&wrong_issuer))),
        ("wrong audience", bearer(keys.sign(&wrong_audience))),
        ("not yet valid", bearer(keys.sign(&not_yet))),
        ("garbage", "Bearer not.a.token".to_string()),
    ] {
        assert_refused(
            &get(&gw, "/j", &[("authorization", &token)]).await,
            invalid_challenge,
            what,
        );
    }
    gw.wait_metric(
        "gateway_auth_failures_total",
        &[("route", "tokens"), ("reason", "invalid")],
        5.0,
        Duration::from_secs(5),
    )
    .await
    .unwrap();
    assert_eq!(failures(&gw, "tokens", "expired").await, 1.0);
    assert_eq!(failures(&gw, "tokens", "missing").await, 1.0);
    server.verify().await;
}

#[tokio::test]
async fn hs256_secrets_come_from_the_environment_syntax_and_leeway_applies() {
    let server = MockServer::start().await;
    Mock::given(path("/h"))
        .and(only_header("x-subject", "svc"))
        .respond_with(ResponseTemplate::new(200).set_body_string(OK_BODY))
        .expect(1)
        .mount(&server)
        .await;
    nothing_else(&server).await;
    let secret = "an-hs256-secret-of-at-least-32-bytes";
    let gw = gateway(
        &server,
        r#"  - match: { path_prefix: /h }
    cluster: mock
    auth:
      kind: jwt
      algorithms: [HS256]
      secret: "${AUTH_TEST_UNSET_SECRET:-an-hs256-secret-of-at-least-32-bytes}"
      leeway: 60s
      forward_as: X-Subject
"#,
        &[],
    )
    .await;
    let sign = |exp_offset: i64| {
        let claims =
            serde_json::json!({ "sub": "svc", "exp": harness::jwt::now_secs() + exp_offset });
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap();
        format!("Bearer {token}")
    };
    // Expired 10 s ago, inside the 60 s leeway.
    assert_eq!(
        get(&gw, "/h", &[("authorization", &sign(-10))])
            .await
            .status,
        200
    );
    assert_eq!(
        get(&gw, "/h", &[("authorization", &sign(-600))])
            .await
            .status,
        401
    );
    server.verify().await;
}

#[tokio::test]
async fn an_authenticated_cache_keeps_one_entry_per_identity_unless_shared() {
    let server = MockServer::start().await;
    for (user, times) in [("alice", 1), ("bob", 1)] {
        Mock::given(path("/private"))
            .and(move |r: &Request| r.headers.get("x-client").is_some_and(|v| v == user))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("cache-control", "max-age=60")
                    .set_body_string(format!("private to {user}")),
            )
            .expect(times)
            .named(format!("{user}'s private fetch"))
            .mount(&server)
            .await;
    }
    Mock::given(path("/shared"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("cache-control", "max-age=60")
                .set_body_string("the same for everyone"),
        )
        .expect(1)
        .named("the one shared fetch")
        .mount(&server)
        .await;
    nothing_else(&server).await;
    let keys = r#"keys: [ { name: alice, key: alice-key }, { name: bob, key: bob-key } ]"#;
    let gw = gateway(
        &server,
        &format!(
            r#"  - match: {{ path_prefix: /private }}
    cluster: mock
    cache: {{ ttl: 60s }}
    auth: {{ kind: api_key, {keys}, forward_as: X-Client }}
  - match: {{ path_prefix: /shared }}
    cluster: mock
    cache: {{ ttl: 60s, shared: true }}
    auth: {{ kind: api_key, {keys}, forward_as: X-Client }}
"#
        ),
        &[],
    )
    .await;
    let as_user = |key: &'static str| [("x-api-key", key)];
    for _ in 0..3 {
        for (user, key) in [("alice", "alice-key"), ("bob", "bob-key")] {
            let r = get(&gw, "/private", &as_user(key)).await;
            assert_eq!(
                (r.status, r.body.clone()),
                (200, format!("private to {user}"))
            );
        }
    }
    // A stored response is no way around auth.
    assert_eq!(get(&gw, "/private", &[]).await.status, 401);
    assert_eq!(
        get(&gw, "/private", &as_user("carol-key")).await.status,
        401
    );

    for key in ["alice-key", "bob-key", "alice-key"] {
        let r = get(&gw, "/shared", &as_user(key)).await;
        assert_eq!((r.status, r.body.as_str()), (200, "the same for everyone"));
    }
    assert_eq!(get(&gw, "/shared", &[]).await.status, 401);
    server.verify().await;
}

#[tokio::test]
async fn background_revalidation_keeps_the_identity_of_the_entry() {
    let server = MockServer::start().await;
    // Stale after a second, then served stale while one background fetch
    // refreshes it: that fetch must carry alice's identity (never the key,
    // the internal carrier, or the identity a client tried to forge).
    Mock::given(|r: &Request| r.url.path().starts_with("/swr"))
        .and(only_header("x-client", "alice"))
        .and(no_header("x-gateway-identity"))
        .and(no_header("x-api-key"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("cache-control", "max-age=1, stale-while-revalidate=60")
                .set_body_string("alice's"),
        )
        .named("alice's fetches")
        .mount(&server)
        .await;
    nothing_else(&server).await;
    let gw = gateway(
        &server,
        r#"  - match: { path_prefix: /swr }
    cluster: mock
    cache: { ttl: 60s }
    auth: { kind: api_key, keys: [ { name: alice, key: alice-key }, { name: bob, key: bob-key } ], forward_as: X-Client }
"#,
        &[],
    )
    .await;
    // HTTP/1.1 only: Pingora 0.9.1 replays an HTTP/2 request to its
    // background subrequest as `HTTP/2` request-line bytes that its own
    // HTTP/1 parser refuses, so h2 clients get no background revalidation.
    let client = client();
    let request = || {
        client
            .get(gw.url("/swr"))
            .header("x-api-key", "alice-key")
            .header("x-gateway-identity", "bob")
    };
    let first = send(&client, request()).await;
    assert_eq!((first.status, first.body.as_str()), (200, "alice's"));
    let stale = harness::wait::until(
        "a stale-while-revalidate answer",
        Duration::from_secs(10),
        || {
            let req = request();
            let client = &client;
            async move {
                let r = send(client, req).await;
                r.header("cache-status")
                    .is_some_and(|s| s.contains("stale-while-revalidate"))
                    .then_some(r)
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(stale.body, "alice's");
    harness::wait::until("the background fetch", Duration::from_secs(5), || async {
        (server.received_requests().await.unwrap_or_default().len() >= 2).then_some(())
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", gw.log_tail(20)));
    // A fetch with any other identity would have hit the catch-all.
    server.verify().await;
}
