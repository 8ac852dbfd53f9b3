//! One config across the fleet: the config hash in `/config` and
//! `gateway_config_info`, `gateway.config_watch` applying a changed file
//! (and refusing a bad one while the old config keeps serving), and
//! `gateway -T` printing the effective config with its secrets redacted.

use crate::common::{binary, client, config, get, start};
use harness::traffic::{Background, TrafficSpec};
use harness::upstream::Fixed;
use harness::{wait, GatewayProcess, MockUpstream, Template};
use std::process::Command;
use std::time::Duration;

/// How long a watched change may take to show (the interval is 200ms).
const WITHIN: Duration = Duration::from_secs(10);

const STICKY_SECRET: &str = "sticky-secret-never-printed";

/// A config watching its own file every 200ms: `/` to blue, plus `extra`
/// routes.
fn watched(extra: &str) -> String {
    config(&format!(
        r#"
config_watch: {{ interval: 200ms }}
clusters:
  blue: {{ endpoints: [ {{ address: "${{upstream.blue}}", name: blue }} ], sticky: {{ cookie: pin, secret: {STICKY_SECRET} }} }}
  green: {{ endpoints: [ {{ address: "${{upstream.green}}", name: green }} ] }}
routes:
  - {{ name: main, match: {{ path_prefix: / }}, cluster: blue }}
{extra}"#
    ))
}

/// `/config`: (generation, hash, whole body).
async fn live_config(gw: &GatewayProcess) -> (u64, String, String) {
    let body = client()
        .get(gw.admin_url("/config"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let generation = json["generation"].as_u64().unwrap();
    let hash = json["hash"].as_str().unwrap_or_default().to_string();
    (generation, hash, body)
}

/// The `gateway_config_info` series as (labels, value) lines.
async fn info_series(gw: &GatewayProcess) -> Vec<String> {
    gw.metrics()
        .await
        .lines()
        .filter(|l| l.starts_with("gateway_config_info{"))
        .map(str::to_string)
        .collect()
}

async fn checks(gw: &GatewayProcess, result: &str) -> f64 {
    gw.metric("gateway_config_watch_checks_total", &[("result", result)])
        .await
}

/// Waits until `/config` shows a generation other than `from`.
async fn next_generation(gw: &GatewayProcess, from: u64) -> (u64, String) {
    wait::until("a new generation in /config", WITHIN, || async {
        let (generation, hash, _) = live_config(gw).await;
        (generation != from).then_some((generation, hash))
    })
    .await
    .unwrap()
}

/// `gateway -T -c FILE`: exit code, stdout, stderr.
fn dump(path: &std::path::Path) -> (i32, String, String) {
    let out = Command::new(binary())
        .arg("-T")
        .arg("-c")
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watched_file_is_applied_a_bad_one_refused_and_clients_see_no_error() {
    let blue = MockUpstream::start("blue", Fixed::ok("blue"))
        .await
        .unwrap();
    let green = MockUpstream::start("green", Fixed::ok("green"))
        .await
        .unwrap();
    let template = Template::new(&watched(""))
        .upstream("blue", blue.addr())
        .upstream("green", green.addr());
    let gw = start(&template).await;

    let (generation, first, body) = live_config(&gw).await;
    assert_eq!(generation, 1, "{body}");
    assert_eq!(first.len(), 16, "{body}");
    assert!(!body.contains(STICKY_SECRET), "{body}");
    // `-T` on the running gateway's file prints the hash it serves with.
    let (code, stdout, stderr) = dump(gw.config_path());
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&format!("# config hash: {first} ")),
        "{stdout}"
    );
    assert_eq!(
        info_series(&gw).await,
        vec![format!(
            "gateway_config_info{{generation=\"1\",hash=\"{first}\"}} 1"
        )]
    );

    // Requests all along: every one must succeed.
    let load = Background::start(
        TrafficSpec {
            concurrency: 2,
            ..TrafficSpec::get(&format!("http://{}", gw.proxy_addr()), "/", 100_000)
        },
        Duration::from_secs(60),
    );

    // A good new file: applied, the new route answers.
    let green_route = "  - { name: green, match: { path_prefix: /green }, cluster: green }\n";
    gw.rewrite_config(&watched(green_route)).unwrap();
    let (generation, second) = next_generation(&gw, 1).await;
    assert_eq!(generation, 2);
    assert_ne!(second, first);
    assert_eq!(get(&gw, "/green", &[]).await.upstream(), "green");
    assert_eq!(checks(&gw, "applied").await, 1.0);
    assert_eq!(
        info_series(&gw).await,
        vec![format!(
            "gateway_config_info{{generation=\"2\",hash=\"{second}\"}} 1"
        )],
        "the previous generation's series is gone"
    );

    // A bad file: refused, counted, the last good config keeps serving.
    gw.rewrite_config(&watched(
        "  - { name: purple, match: { path_prefix: /purple }, cluster: purple }\n",
    ))
    .unwrap();
    wait::until("the bad file to be rejected", WITHIN, || async {
        (checks(&gw, "rejected").await == 1.0).then_some(())
    })
    .await
    .unwrap();
    assert_eq!(
        gw.metric("gateway_config_reloads_total", &[("result", "failure")])
            .await,
        1.0
    );
    let (generation, hash, _) = live_config(&gw).await;
    assert_eq!((generation, hash.as_str()), (2, second.as_str()));
    assert_eq!(get(&gw, "/green", &[]).await.upstream(), "green");
    assert!(gw.log().contains("unknown cluster `purple`"), "logged");

    // A good file again: applied.
    let both = format!(
        "{green_route}  - {{ name: blue, match: {{ path_prefix: /blue }}, cluster: blue }}\n"
    );
    gw.rewrite_config(&watched(&both)).unwrap();
    let (generation, third) = next_generation(&gw, 2).await;
    assert_eq!(generation, 3);
    assert!(third != first && third != second);
    assert_eq!(get(&gw, "/blue", &[]).await.upstream(), "blue");

    // Only a comment changes: nothing is rebuilt.
    gw.rewrite_config(&format!("# same settings\n{}", watched(&both)))
        .unwrap();
    wait::until("the comment-only change to be seen", WITHIN, || async {
        gw.log()
            .contains("its effective config is the serving one")
            .then_some(())
    })
    .await
    .unwrap();
    assert_eq!(live_config(&gw).await.0, 3);

    let summary = load.join().await.unwrap();
    assert!(summary.sent() > 0);
    assert_eq!(summary.unsuccessful(), 0, "{}", summary.describe());
    assert_eq!(checks(&gw, "applied").await, 2.0);
    assert_eq!(checks(&gw, "rejected").await, 1.0);
    assert_eq!(
        gw.metric("gateway_config_reloads_total", &[("result", "success")])
            .await,
        2.0
    );
    assert!(checks(&gw, "unchanged").await >= 1.0);
    assert_eq!(checks(&gw, "unreadable").await, 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn without_config_watch_a_changed_file_waits_for_a_reload() {
    let blue = MockUpstream::start("blue", Fixed::ok("blue"))
        .await
        .unwrap();
    let text = config(
        r#"
clusters:
  blue: { endpoints: [ { address: "${upstream.blue}", name: blue } ] }
routes:
  - { name: main, match: { path_prefix: / }, cluster: blue }
"#,
    );
    let gw = start(&Template::new(&text).upstream("blue", blue.addr())).await;
    wait::until("the watch to say it is off", WITHIN, || async {
        gw.log().contains("config watch: off").then_some(())
    })
    .await
    .unwrap();
    let (_, first, _) = live_config(&gw).await;
    gw.rewrite_config(&text.replace("path_prefix: /", "path_prefix: /v1"))
        .unwrap();
    // The reload is the only way it applies; had a watch run, it would
    // have applied it first and this reload would change nothing.
    let (status, body) = gw.reload().await.unwrap();
    assert_eq!(
        (status, body["generation"].as_u64()),
        (200, Some(2)),
        "{body}"
    );
    assert_ne!(live_config(&gw).await.1, first);
    assert!(!gw.log().contains("config watch: reading"), "{}", gw.log());
    for result in ["unchanged", "applied", "rejected", "unreadable"] {
        assert_eq!(checks(&gw, result).await, 0.0, "{result}");
    }
}

#[test]
fn dump_prints_the_effective_config_and_its_hash_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gw.yaml");
    let secrets = [
        "admin-token-never-printed-0123",
        "api-key-never-printed",
        "jwt-secret-never-printed-0123456789abcdef",
        STICKY_SECRET,
    ];
    let text = format!(
        r#"
# comments and key order do not matter
gateway:
  admin: {{ token: "{}", address: "127.0.0.1:9" }}
  listeners: [ {{ address: "127.0.0.1:8" }} ]
  clusters:
    api: {{ endpoints: [ {{ address: "127.0.0.1:7" }} ], sticky: {{ cookie: pin, secret: {} }} }}
  routes:
    - {{ match: {{ path_prefix: /k }}, cluster: api, auth: {{ kind: api_key, keys: [ {} ] }} }}
    - {{ match: {{ path_prefix: /j }}, cluster: api, auth: {{ kind: jwt, algorithms: [HS256], secret: {} }} }}
version: 1
"#,
        secrets[0], secrets[3], secrets[1], secrets[2]
    );
    std::fs::write(&path, &text).unwrap();
    let (code, stdout, stderr) = dump(&path);
    assert_eq!(code, 0, "{stderr}");
    for secret in secrets {
        assert!(!stdout.contains(secret), "{secret} printed:\n{stdout}");
        assert!(!stderr.contains(secret), "{secret} printed:\n{stderr}");
    }
    assert_eq!(stdout.matches("<redacted sha256:").count(), 4, "{stdout}");
    let hash_line = stdout
        .lines()
        .find(|l| l.starts_with("# config hash: "))
        .unwrap_or_else(|| panic!("no hash line:\n{stdout}"));
    let hash = hash_line["# config hash: ".len()..]
        .split(' ')
        .next()
        .unwrap_or_default();
    assert_eq!(hash.len(), 16, "{hash_line}");
    assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()), "{hash_line}");
    // Defaults are filled in.
    for default in ["threads: 2", "grace_period_seconds: 5", "attempts: 1"] {
        assert!(stdout.contains(default), "{default}:\n{stdout}");
    }
    assert!(stderr.contains("config OK"), "{stderr}");

    // The same settings written otherwise: the same hash.
    let respelled = text
        .replace("# comments and key order do not matter\n", "")
        .replace("version: 1\n", "")
        .replace("gateway:\n", "version: 1\nthreads: 2\ngateway:\n");
    std::fs::write(&path, respelled).unwrap();
    let (code, again, stderr) = dump(&path);
    assert_eq!(code, 0, "{stderr}");
    assert!(again.contains(hash_line), "{again}");

    // Another secret: another hash, still not printed.
    std::fs::write(&path, text.replace(secrets[1], "another-api-key")).unwrap();
    let (code, other, _) = dump(&path);
    assert_eq!(code, 0);
    assert!(!other.contains(hash_line) && !other.contains("another-api-key"));

    // A bad config: exit 1 with the file, key path and expectation.
    std::fs::write(
        &path,
        text.replace(
            "cluster: api, auth: { kind: jwt",
            "cluster: apx, auth: { kind: jwt",
        ),
    )
    .unwrap();
    let (code, stdout, stderr) = dump(&path);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains(&format!(
            "error: {}: gateway.routes[1].cluster: unknown cluster `apx`",
            path.display()
        )),
        "{stderr}"
    );

    // `-t` keeps working beside it.
    std::fs::write(&path, &text).unwrap();
    let out = Command::new(binary())
        .arg("-t")
        .arg("-c")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("config OK"));
}

#[test]
fn a_zero_watch_interval_is_refused_with_its_key_path() {
    let yaml = |interval: &str| {
        format!(
            "version: 1\ngateway:\n  listeners: [ {{ address: \"127.0.0.1:6188\" }} ]\n  \
             config_watch: {{ interval: {interval} }}\n  \
             clusters:\n    api: {{ endpoints: [ {{ address: \"127.0.0.1:3001\" }} ] }}\n  \
             routes:\n    - {{ cluster: api }}\n"
        )
    };
    let lookup = |_: &str| None;
    let zero = gateway::config::parse(&yaml("0s"), "w.yaml", &lookup)
        .unwrap_err()
        .to_string();
    assert!(
        zero.starts_with("w.yaml: gateway.config_watch.interval: expected a duration above 0"),
        "{zero}"
    );
    let missing = gateway::config::parse(&yaml("nope"), "w.yaml", &lookup)
        .unwrap_err()
        .to_string();
    assert!(
        missing.starts_with("w.yaml: gateway.config_watch.interval:"),
        "{missing}"
    );
    gateway::config::parse(&yaml("1s"), "w.yaml", &lookup).unwrap();
}
