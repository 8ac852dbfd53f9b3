//! Every class of bad config is refused with the file, the key path and
//! what was expected; `gateway -t` reports the same and exits 1.

use crate::common;
use gateway::config::parse;
use std::process::Command;

const GOOD: &str = r#"
version: 1
gateway:
  listeners: [ { address: "127.0.0.1:6188" } ]
  admin: { address: "127.0.0.1:6189" }
  clusters:
    api: { endpoints: [ { address: "127.0.0.1:3001" } ] }
  routes:
    - { match: { path_prefix: / }, cluster: api }
"#;

fn env(name: &str) -> Option<String> {
    (name == "SET_VAR").then(|| "value".to_string())
}

fn error_for(yaml: &str) -> String {
    match parse(yaml, "bad.yaml", &env) {
        Ok(_) => panic!("accepted:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

/// `GOOD` with `from` replaced by `to` (which must change something).
fn variant(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "{from} not in the base config");
    GOOD.replacen(from, to, 1)
}

#[test]
fn the_base_config_is_valid() {
    parse(GOOD, "good.yaml", &env).unwrap();
}

#[test]
fn each_class_of_bad_config_names_its_key_path() {
    let cases = [
        ("unknown key", variant("admin:", "admn:")),
        (
            "unknown nested key",
            variant("path_prefix: /", "path_prefx: /"),
        ),
        ("bad type", variant("version: 1", "version: one")),
        (
            "unknown cluster",
            variant("cluster: api }", "cluster: apii }"),
        ),
        (
            "duplicate listeners",
            variant(
                r#"[ { address: "127.0.0.1:6188" } ]"#,
                r#"[ { address: "127.0.0.1:6188" }, { address: "127.0.0.1:6188" } ]"#,
            ),
        ),
        (
            "listener clashes with admin",
            variant("127.0.0.1:6189", "127.0.0.1:6188"),
        ),
        (
            "empty cluster",
            variant(
                r#"endpoints: [ { address: "127.0.0.1:3001" } ]"#,
                "endpoints: []",
            ),
        ),
        (
            "unparseable address",
            variant("127.0.0.1:3001", "localhost:three"),
        ),
        (
            "bad duration",
            variant("api: {", "api: { timeouts: { connect: soon },"),
        ),
        (
            "bad hash key",
            variant(
                "api: {",
                "api: { balance: { consistent_hash: { key: \"query:x\" } },",
            ),
        ),
        (
            "bad retry condition",
            variant("api: {", "api: { retries: { on: [connect_failure, 999] },"),
        ),
        (
            "http check without path",
            variant("api: {", "api: { health_check: { kind: http },"),
        ),
        (
            "missing environment variable",
            variant("127.0.0.1:3001", "${UNSET_VAR}"),
        ),
        (
            "bad method",
            variant("path_prefix: /", "path_prefix: /, methods: [get]"),
        ),
        (
            "relative prefix",
            variant("path_prefix: /", "path_prefix: v1"),
        ),
        (
            "bad size",
            variant(
                "routes:",
                "downstream: { max_uri_bytes: 8 parsecs }\n  routes:",
            ),
        ),
        (
            "header limit above Pingora's",
            variant(
                "routes:",
                "downstream: { max_header_bytes: 2MiB }\n  routes:",
            ),
        ),
        (
            "read buffer above 1MiB",
            variant("routes:", "downstream: { read_buffer: 2MiB }\n  routes:"),
        ),
        (
            "access log neither off nor a map",
            variant("routes:", "access_log: maybe\n  routes:"),
        ),
        (
            "access log buffer above 16MiB",
            variant("routes:", "access_log: { buffer: 32MiB }\n  routes:"),
        ),
        (
            "bad access log format",
            variant("routes:", "access_log: { format: xml }\n  routes:"),
        ),
        (
            "bad escaped_slashes",
            variant(
                "routes:",
                "downstream: { escaped_slashes: allow }\n  routes:",
            ),
        ),
        (
            "zero max_requests_per_connection",
            variant(
                "routes:",
                "downstream: { max_requests_per_connection: 0 }\n  routes:",
            ),
        ),
        (
            "zero weight",
            variant("127.0.0.1:3001\"", "127.0.0.1:3001\", weight: 0"),
        ),
        (
            "weight beyond the bound",
            variant("127.0.0.1:3001\"", "127.0.0.1:3001\", weight: 1000000000"),
        ),
        (
            "error page content type that is no header value",
            variant(
                "cluster: api }",
                "cluster: api, error_page: { file: e.html, content_type: \"text/html\\n\" } }",
            ),
        ),
        (
            "query value that breaks the URI",
            variant(
                "cluster: api }",
                "cluster: api, query: { set: { v: \"a b\" } } }",
            ),
        ),
        (
            "query name with a separator",
            variant(
                "cluster: api }",
                "cluster: api, query: { set: { \"a&b\": \"1\" } } }",
            ),
        ),
        (
            "replacement prefix that breaks the URI",
            variant(
                "path_prefix: / }",
                "path_prefix: / }, rewrite: { replace_prefix: \"/a b\" }",
            ),
        ),
        ("yaml syntax", variant("routes:", "routes: [")),
        (
            "missing section",
            variant(
                "  routes:\n    - { match: { path_prefix: / }, cluster: api }\n",
                "",
            ),
        ),
    ];
    let report: Vec<String> = cases
        .iter()
        .map(|(class, yaml)| format!("{class}:\n  {}", error_for(yaml)))
        .collect();
    insta::assert_snapshot!(report.join("\n"));
}

#[test]
fn environment_references_are_substituted() {
    let yaml = variant("cluster: api }", "cluster: api, name: \"${SET_VAR}\" }");
    let cfg = parse(&yaml, "env.yaml", &env).unwrap();
    assert_eq!(cfg.gateway.routes[0].name.as_deref(), Some("value"));
    let defaulted = variant("127.0.0.1:3001", "${UNSET_VAR:-127.0.0.1:4000}");
    let cfg = parse(&defaulted, "env.yaml", &env).unwrap();
    assert_eq!(
        cfg.gateway.clusters["api"].endpoints[0].address.to_string(),
        "127.0.0.1:4000"
    );
}

#[test]
fn check_flag_exits_0_for_good_and_1_for_bad_configs_with_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&good, GOOD).unwrap();
    std::fs::write(&bad, variant("cluster: api }", "cluster: apii }")).unwrap();
    let bin = env!("CARGO_BIN_EXE_gateway");

    let ok = Command::new(bin)
        .args(["-t", "-c"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(
        ok.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("config OK"));

    let failed = Command::new(bin)
        .args(["-t", "-c"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains(&bad.display().to_string()), "{stderr}");
    assert!(
        stderr.contains("gateway.routes[0].cluster: unknown cluster `apii`"),
        "{stderr}"
    );

    let embedded = Command::new(bin).arg("-t").output().unwrap();
    assert_eq!(
        embedded.status.code(),
        Some(0),
        "the embedded default config is valid"
    );
}

#[test]
fn pid_file_and_upgrade_socket_default_to_a_private_directory_not_shared_tmp() {
    let cfg = parse(GOOD, "good.yaml", &env).unwrap();
    let private = gateway::config::runtime_dir::default_dir();
    for path in [&cfg.pid_file, &cfg.upgrade_sock] {
        let parent = std::path::Path::new(path).parent().unwrap();
        assert_eq!(parent, private, "{path}");
        assert_ne!(parent, std::env::temp_dir(), "{path}");
    }
}

#[test]
fn bad_cache_settings_name_their_key_path() {
    let route = "- { match: { path_prefix: / }, cluster: api }";
    let cases = [
        (
            "cache: { ttl: 60s, lock_timeout: 0s }",
            "bad.yaml: gateway.routes[0].cache.lock_timeout: expected a duration above zero",
        ),
        (
            r#"cache: { purge: { allow: ["127.0.0.0/8", "10.0.0.0/33"] } }"#,
            "bad.yaml: gateway.routes[0].cache.purge.allow[1]: `10.0.0.0/33` has a bad prefix length; expected 0 to 32",
        ),
        (
            "cache: { key_headers: [\"bad header\"] }",
            "bad.yaml: gateway.routes[0].cache.key_headers[0]: `bad header` is not a header name",
        ),
        ("cache: { tll: 60s }", "gateway.routes[0].cache"),
    ];
    for (cache, expected) in cases {
        let with_cache = format!("- {{ match: {{ path_prefix: / }}, cluster: api, {cache} }}");
        let yaml = variant(route, &with_cache);
        let message = error_for(&yaml);
        assert!(message.contains(expected), "{cache}: {message}");
    }
    let storage = variant(
        "  clusters:",
        "  cache_storage: { max_bytes: 1MiB, max_object_bytes: 2MiB }\n  clusters:",
    );
    assert!(error_for(&storage).contains(
        "gateway.cache_storage.max_object_bytes: expected a size above zero and at most max_bytes"
    ));
    let size = variant(
        "  clusters:",
        "  cache_storage: { max_bytes: lots }\n  clusters:",
    );
    assert!(error_for(&size).contains("gateway.cache_storage.max_bytes"));
}

/// The base config with `auth` (a YAML flow mapping) on its route.
fn with_auth(auth: &str) -> String {
    variant(
        "- { match: { path_prefix: / }, cluster: api }",
        &format!("- {{ match: {{ path_prefix: / }}, cluster: api, auth: {auth} }}"),
    )
}

#[test]
fn bad_auth_settings_name_their_key_path() {
    let secret = "0123456789abcdef0123456789abcdef";
    let cases = [
        (
            "{ kind: basic, users: { alice: hunter2 } }".to_string(),
            "bad.yaml: gateway.routes[0].auth.users.alice: expected an argon2 (`$argon2id$...`) or bcrypt (`$2b$...`) hash; plaintext passwords are not accepted",
        ),
        (
            "{ kind: basic, users: { alice: \"$2b$04$tooshort\" } }".to_string(),
            "bad.yaml: gateway.routes[0].auth.users.alice: not a valid bcrypt hash",
        ),
        (
            format!("{{ kind: jwt, algorithms: [HS256, HS257], secret: {secret} }}"),
            "bad.yaml: gateway.routes[0].auth.algorithms[1]: unknown algorithm `HS257`; expected one of HS256,",
        ),
        (
            "{ kind: jwt, algorithms: [none], key_file: k.pem }".to_string(),
            "bad.yaml: gateway.routes[0].auth.algorithms[0]: unknown algorithm `none`",
        ),
        (
            "{ kind: jwt, algorithms: [HS256] }".to_string(),
            "bad.yaml: gateway.routes[0].auth.secret: HMAC algorithms need a `secret`",
        ),
        (
            "{ kind: jwt, algorithms: [HS256], secret: short }".to_string(),
            "bad.yaml: gateway.routes[0].auth.secret: expected a secret of at least 32 bytes",
        ),
        (
            "{ kind: jwt, algorithms: [RS256] }".to_string(),
            "bad.yaml: gateway.routes[0].auth.key_file: RSA algorithms need `key_file`",
        ),
        (
            format!("{{ kind: jwt, algorithms: [HS256, RS256], secret: {secret} }}"),
            "bad.yaml: gateway.routes[0].auth.algorithms[1]: `RS256` is RSA but an earlier algorithm is HMAC",
        ),
        (
            "{ kind: api_key, keys: [] }".to_string(),
            "bad.yaml: gateway.routes[0].auth.keys: expected at least one key",
        ),
        (
            "{ kind: api_key, keys: [\"${UNSET_API_KEY}\"] }".to_string(),
            "bad.yaml: gateway.routes[0].auth.keys[0]: environment variable `UNSET_API_KEY` is not set",
        ),
        (
            "{ kind: api_key, keys: [\"${UNSET_API_KEY:-}\"] }".to_string(),
            "bad.yaml: gateway.routes[0].auth.keys[0]: expected a non-empty key",
        ),
        (
            "{ kind: api_key, header: X-Key, query: key, keys: [k] }".to_string(),
            "bad.yaml: gateway.routes[0].auth.query: expected either `header` or `query`, not both",
        ),
        (
            "{ kind: api_key, keys: [ { name: a, key: k1 }, { name: a, key: k2 } ] }".to_string(),
            "bad.yaml: gateway.routes[0].auth.keys[1].name: `a` names two keys",
        ),
        (
            "{ kind: api_key, keys: [k], forward_as: \"bad header\" }".to_string(),
            "bad.yaml: gateway.routes[0].auth.forward_as: `bad header` is not a valid header name",
        ),
        (
            "{ kind: oauth }".to_string(),
            "bad.yaml: gateway.routes[0].auth.kind: unknown variant `oauth`, expected one of `api_key`, `basic`, `jwt`",
        ),
        (
            "{ kind: api_key, keys: [k], headr: X-Key }".to_string(),
            "bad.yaml: gateway.routes[0].auth: unknown field `headr`, expected one of `header`, `query`, `keys`, `forward_as`, `strip`",
        ),
    ];
    for (auth, expected) in cases {
        let message = error_for(&with_auth(&auth));
        assert!(message.contains(expected), "{auth}:\n{message}");
    }
}

#[test]
fn unreadable_or_wrong_jwt_key_files_fail_the_build_with_the_key_path() {
    use gateway::config::load_file;
    use gateway::Generation;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("not-a-key.pem"), "hello").unwrap();
    let cases = [
        ("missing.pem", "cannot read"),
        ("not-a-key.pem", "is not a PEM EC public key"),
    ];
    for (file, expected) in cases {
        let path = dir.path().join("gateway.yaml");
        let auth = format!("{{ kind: jwt, algorithms: [ES256], key_file: {file} }}");
        std::fs::write(&path, with_auth(&auth)).unwrap();
        let loaded = load_file(&path).unwrap();
        let message = match Generation::build(loaded, None, 1) {
            Ok(_) => panic!("{file}: accepted"),
            Err(e) => e.to_string(),
        };
        let prefix = format!("{}: gateway.routes[0].auth.key_file: ", path.display());
        assert!(message.starts_with(&prefix), "{file}: {message}");
        assert!(message.contains(expected), "{file}: {message}");
        assert!(message.contains(file), "{file}: {message}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_with_bad_auth_keeps_the_old_routes_and_keys() {
    let upstream = harness::MockUpstream::start("api", harness::upstream::Fixed::ok("api"))
        .await
        .unwrap();
    let routes = |auth: &str| {
        common::config(&format!(
            "clusters:\n  api: {{ endpoints: [ {{ address: \"${{upstream.api}}\" }} ] }}\nroutes:\n  - {{ match: {{ path_prefix: / }}, cluster: api, auth: {auth} }}\n"
        ))
    };
    let template = harness::Template::new(&routes("{ kind: api_key, keys: [old-key] }"))
        .upstream("api", upstream.addr());
    let gw = common::start(&template).await;
    let status = |key: &'static str| {
        let gw = &gw;
        async move { common::get(gw, "/", &[("x-api-key", key)]).await.status }
    };
    assert_eq!(
        (status("old-key").await, status("new-key").await),
        (200, 401)
    );
    for bad in [
        "{ kind: basic, users: { alice: plaintext } }",
        "{ kind: jwt, algorithms: [ES256], key_file: /nonexistent/key.pem }",
        "{ kind: api_key, keys: [new-key, \"${UNSET_API_KEY}\"] }",
    ] {
        gw.rewrite_config(&routes(bad)).unwrap();
        let (code, body) = gw.reload().await.unwrap();
        assert_eq!(
            (code, body["result"].as_str()),
            (422, Some("rejected")),
            "{bad}: {body}"
        );
        assert!(
            body["error"]
                .as_str()
                .unwrap()
                .contains("gateway.routes[0].auth"),
            "{bad}: {body}"
        );
        assert_eq!(
            (status("old-key").await, status("new-key").await),
            (200, 401),
            "{bad}"
        );
    }
    // A route compiled before the build failed leaves no metric series.
    let two_routes = common::config(
        "clusters:\n  api: { endpoints: [ { address: \"${upstream.api}\" } ] }\nroutes:\n  - { name: fresh, match: { path_prefix: /a }, cluster: api, auth: { kind: api_key, keys: [k] } }\n  - { match: { path_prefix: / }, cluster: api, auth: { kind: jwt, algorithms: [ES256], key_file: /nonexistent/key.pem } }\n",
    );
    gw.rewrite_config(&two_routes).unwrap();
    let (code, body) = gw.reload().await.unwrap();
    assert_eq!(code, 422, "{body}");
    let series = gw.series("gateway_auth_failures_total").await;
    assert!(series.contains("route=\"route0\""), "{series}");
    assert!(!series.contains("fresh"), "{series}");
}

/// `GOOD` with its listener serving HTTPS with `tls` (certificate paths
/// relative to the config file's directory).
fn with_tls(tls: &str) -> String {
    variant(
        r#"[ { address: "127.0.0.1:6188" } ]"#,
        &format!(r#"[ {{ address: "127.0.0.1:6188", tls: {tls} }} ]"#),
    )
}

/// The error compiling `yaml` as the file `dir/gateway.yaml`, where the
/// test certificates are.
fn compile_error(dir: &std::path::Path, yaml: &str) -> String {
    use gateway::config::{load_file, LoadedConfig};
    let path = dir.join("gateway.yaml");
    std::fs::write(&path, yaml).unwrap();
    match load_file(&path).and_then(|l: LoadedConfig| gateway::Generation::build(l, None, 1)) {
        Ok(_) => panic!("accepted:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_tls_listener_settings_name_their_key_path() {
    let dir = tempfile::tempdir().unwrap();
    harness::certs::TestCerts::generate(dir.path()).unwrap();
    let file = dir.path().join("gateway.yaml").display().to_string();
    let server = r#"cert: server.pem, key: server-key.pem"#;
    let file_cases = [
        (
            "{ cert: missing.pem, key: server-key.pem }".to_string(),
            "gateway.listeners[0].tls.cert: cannot read",
        ),
        (
            format!("{{ {server}, certificates: [ {{ hosts: [a.example.test], cert: a.pem, key: missing-key.pem }} ] }}"),
            "gateway.listeners[0].tls.certificates[0].key: cannot read",
        ),
        (
            format!("{{ {server}, certificates: [ {{ hosts: [a.example.test], cert: a.pem, key: b-key.pem }} ] }}"),
            "gateway.listeners[0].tls.certificates[0].key: ",
        ),
        (
            "{ cert: server.pem, key: ca.pem }".to_string(),
            "gateway.listeners[0].tls.key: no private key found",
        ),
        (
            format!("{{ {server}, client_auth: {{ ca: missing-ca.pem }} }}"),
            "gateway.listeners[0].tls.client_auth.ca: cannot read",
        ),
    ];
    for (tls, expected) in file_cases {
        let message = compile_error(dir.path(), &with_tls(&tls));
        assert!(message.starts_with(&file), "{tls}: {message}");
        assert!(message.contains(expected), "{tls}: {message}");
    }
    let mismatch = compile_error(
        dir.path(),
        &with_tls(&format!("{{ {server}, certificates: [ {{ hosts: [a.example.test], cert: a.pem, key: b-key.pem }} ] }}")),
    );
    assert!(
        mismatch.contains("cannot be used with the certificate"),
        "{mismatch}"
    );

    let parse_cases = [
        (
            format!("{{ {server}, certificates: [ {{ hosts: [a.example.test], cert: a.pem, key: a-key.pem }}, {{ hosts: [b.example.test, A.example.test], cert: b.pem, key: b-key.pem }} ] }}"),
            "bad.yaml: gateway.listeners[0].tls.certificates[1].hosts[1]: `A.example.test` is already listed in gateway.listeners[0].tls.certificates[0]",
        ),
        (
            format!("{{ {server}, client_auth: {{ mode: require }} }}"),
            "bad.yaml: gateway.listeners[0].tls.client_auth.ca: client_auth needs `ca`",
        ),
        (
            format!("{{ {server}, certificates: [ {{ hosts: [\"*.*.example.test\"], cert: a.pem, key: a-key.pem }} ] }}"),
            "bad.yaml: gateway.listeners[0].tls.certificates[0].hosts[0]: `*.*.example.test` is not a server name",
        ),
    ];
    for (tls, expected) in parse_cases {
        let message = error_for(&with_tls(&tls));
        assert!(message.contains(expected), "{tls}: {message}");
    }
    let h2c = variant(
        r#"[ { address: "127.0.0.1:6188" } ]"#,
        &format!(r#"[ {{ address: "127.0.0.1:6188", h2c: true, tls: {{ {server} }} }} ]"#),
    );
    assert!(error_for(&h2c).contains(
        "bad.yaml: gateway.listeners[0].h2c: `h2c` is HTTP/2 over plaintext and cannot be combined with `tls`"
    ));
    let route = |keys: &str| variant("cluster: api }", &format!("cluster: api, {keys} }}"));
    for (keys, expected) in [
        (
            "client_cert: {}",
            "gateway.routes[0].client_cert: expected at least one accepted name",
        ),
        (
            "client_cert_header: \"bad header\"",
            "gateway.routes[0].client_cert_header: `bad header` is not a valid header name",
        ),
        (
            "upstream_sni: api.internal",
            "gateway.routes[0].upstream_sni: cluster `api` has no `tls`",
        ),
    ] {
        let message = error_for(&route(keys));
        assert!(message.contains(expected), "{keys}: {message}");
    }
}

#[test]
fn bad_client_and_request_guard_settings_name_their_key_path() {
    let route = "- { match: { path_prefix: / }, cluster: api }";
    let with_route = |keys: &str| {
        variant(
            route,
            &format!("- {{ match: {{ path_prefix: / }}, cluster: api, {keys} }}"),
        )
    };
    let with_gateway = |keys: &str| variant("  clusters:", &format!("  {keys}\n  clusters:"));
    let cases = [
        (
            with_gateway(r#"trusted_proxies: ["10.0.0.0/8", "10.0.0.0/40"]"#),
            "bad.yaml: gateway.trusted_proxies[1]: `10.0.0.0/40` is not an IP network; expected a CIDR",
        ),
        (
            with_gateway(r#"ip: { deny: ["2001:db8::/33", "2001:zz8::/32"] }"#),
            "bad.yaml: gateway.ip.deny[1]: `2001:zz8::/32` is not an IP network",
        ),
        (
            with_route(r#"ip: { allow: ["localhost"] }"#),
            "bad.yaml: gateway.routes[0].ip.allow[0]: `localhost` is not an IP network",
        ),
        (
            with_route(r#"body_rules: { deny: ["ok", "(unclosed"] }"#),
            "bad.yaml: gateway.routes[0].body_rules.deny[1]: `(unclosed` is not a valid regular expression",
        ),
        (
            with_route(r#"body_rules: { deny: ["x"], inspect_bytes: 65KiB }"#),
            "bad.yaml: gateway.routes[0].body_rules.inspect_bytes: 66560 is out of range; expected 1 to 64KiB",
        ),
        (
            with_route("body_rules: { deny: [] }"),
            "bad.yaml: gateway.routes[0].body_rules.deny: expected at least one pattern",
        ),
        (
            with_route("max_headers: 300"),
            "bad.yaml: gateway.routes[0].max_headers: 300 is above 256, which Pingora refuses",
        ),
        (
            with_gateway("downstream: { max_headers: 257 }"),
            "bad.yaml: gateway.downstream.max_headers: 257 is out of range; expected 1 to 256",
        ),
        (
            variant(
                "  clusters:",
                "  downstream: { max_headers: 50 }\n  clusters:",
            )
            .replace(route, "- { match: { path_prefix: / }, cluster: api, max_headers: 60 }"),
            "bad.yaml: gateway.routes[0].max_headers: 60 is out of range; expected 1 to gateway.downstream.max_headers (50); a route may only lower it",
        ),
        (
            with_route("max_header_bytes: 128KiB"),
            "bad.yaml: gateway.routes[0].max_header_bytes: 131072 is out of range; expected a size above zero and at most gateway.downstream.max_header_bytes (65536)",
        ),
        (
            variant(
                "  clusters:",
                "  downstream: { max_body_bytes: 1MiB }\n  clusters:",
            )
            .replace(route, "- { match: { path_prefix: / }, cluster: api, max_body_bytes: 2MiB }"),
            "bad.yaml: gateway.routes[0].max_body_bytes: 2097152 is out of range; expected a size above zero and at most gateway.downstream.max_body_bytes (1048576)",
        ),
        (
            with_route("max_body_bytes: lots"),
            "gateway.routes[0].max_body_bytes",
        ),
    ];
    for (yaml, expected) in cases {
        let message = error_for(&yaml);
        assert!(message.contains(expected), "{expected}\n  got: {message}");
    }
    let ok = with_route(
        r#"ip: { allow: ["127.0.0.1", "::1/128"] }, max_body_bytes: 1MiB, max_headers: 100, body_rules: { deny: ["(?i)union\\s+select"] }"#,
    );
    parse(&ok, "good.yaml", &env).unwrap();
}

#[test]
fn bad_limits_name_their_key_path() {
    let route = "- { match: { path_prefix: / }, cluster: api }";
    let route_cases = [
        (
            "limits: { gcra: { key: client_ip, rate: 10/s, burst: 0 } }",
            "bad.yaml: gateway.routes[0].limits.gcra.burst: expected at least 1",
        ),
        (
            "limits: { gcra: { key: client_ip, rate: 0/s, burst: 5 } }",
            "bad.yaml: gateway.routes[0].limits.gcra.rate: `0/s` allows nothing",
        ),
        (
            "limits: { gcra: { key: client_ip+cookie:sid, rate: 10/s, burst: 5 } }",
            "bad.yaml: gateway.routes[0].limits.gcra.key: `cookie:sid` is not a limit key part; expected `client_ip`, `api_key`, `route` or `header:NAME`, joined by `+`",
        ),
        (
            "limits: { gcra: { key: \"header:x client\", rate: 10/s, burst: 5 } }",
            "bad.yaml: gateway.routes[0].limits.gcra.key: `x client` is not a valid header name",
        ),
        (
            "limits: { gcra: { key: client_ip, rate: 1/h, burst: 18446744073709551615 } }",
            "bad.yaml: gateway.routes[0].limits.gcra.burst: burst times the emission interval overflows",
        ),
        (
            "limits: { window: { key: route, max: 0, per: 1s } }",
            "bad.yaml: gateway.routes[0].limits.window.max: expected at least 1 request per window",
        ),
        (
            "limits: { window: { key: route, max: 10, per: 10ms } }",
            "bad.yaml: gateway.routes[0].limits.window.per: expected a window from 1s to 24h",
        ),
        (
            "limits: { in_flight: 0 }",
            "bad.yaml: gateway.routes[0].limits.in_flight: expected at least 1 (leave it out for no limit)",
        ),
        ("limits: { inflight: 3 }", "gateway.routes[0].limits"),
    ];
    for (limits, expected) in route_cases {
        let with_limits = format!("- {{ match: {{ path_prefix: / }}, cluster: api, {limits} }}");
        let message = error_for(&variant(route, &with_limits));
        assert!(message.contains(expected), "{limits}: {message}");
    }
    let global = variant(
        "  clusters:",
        "  limits: { gcra: { key: api_key+nobody, rate: 1000/s, burst: 2000 } }\n  clusters:",
    );
    let message = error_for(&global);
    assert!(
        message.contains("bad.yaml: gateway.limits.gcra.key: `nobody` is not a limit key part"),
        "{message}"
    );
    let cluster = variant("api: {", "api: { limits: { in_flight: 0 },");
    let message = error_for(&cluster);
    assert!(
        message.contains("bad.yaml: gateway.clusters.api.limits.in_flight: expected at least 1"),
        "{message}"
    );
}

#[test]
fn every_limit_key_is_accepted() {
    let yaml = variant(
        "- { match: { path_prefix: / }, cluster: api }",
        "- { match: { path_prefix: / }, cluster: api, limits: { gcra: { key: \"client_ip+header:X-Tenant+api_key+route\", rate: 1000/m, burst: 20 }, window: { key: \"header:x-tenant\", max: 100, per: 1s }, in_flight: 100 } }",
    )
    .replace(
        "  clusters:",
        "  limits: { gcra: { key: client_ip, rate: 1000/s, burst: 2000 } }\n  clusters:",
    )
    .replace("api: {", "api: { limits: { in_flight: 200 },");
    parse(&yaml, "good.yaml", &env).unwrap();
}

#[test]
fn a_zero_websocket_idle_timeout_names_its_key_path() {
    let yaml = variant(
        "cluster: api }",
        "cluster: api, websocket_idle_timeout: 0s }",
    );
    assert_eq!(
        error_for(&yaml),
        "bad.yaml: gateway.routes[0].websocket_idle_timeout: expected a positive duration"
    );
    parse(
        &variant(
            "cluster: api }",
            "cluster: api, websocket_idle_timeout: 90s }",
        ),
        "good.yaml",
        &env,
    )
    .unwrap();
}
