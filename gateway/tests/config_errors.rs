//! Every class of bad config is refused with the file, the key path and
//! what was expected; `gateway -t` reports the same and exits 1.

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
    let private = gateway::runtime_dir::default_dir();
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
