//! One function per fuzz target, shared by the cargo-fuzz targets in
//! `fuzz/fuzz_targets/` and by `gateway/tests/it/fuzz_corpus.rs`, which replays
//! every file of `fuzz/corpus/<target>/` through the same code on a plain
//! `cargo test`. Each function must never panic on any input; where a cheap
//! invariant exists it is asserted too, so a wrong answer is a crash.

use gateway::config::{
    self, ConfigSource, EscapedSlashes, HeaderRulesConfig, LoadedConfig, QueryConfig, RewriteConfig,
};
use gateway::parts::{normalize_path, HeaderRules, PathPolicy, PathRewrite, QueryRewrite};
use gateway::Generation;
use http::Method;
use pingora::http::RequestHeader;
use std::collections::BTreeMap;
use std::sync::OnceLock;

/// Fuzz target names, in the order `cargo xtask fuzz` lists them.
pub const TARGETS: &[&str] = &[
    "config",
    "routing",
    "rewrite",
    "header_rules",
    "scenario",
    "path",
];

/// Runs `data` through target `name`; false for an unknown name.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "config" => config(data),
        "routing" => routing(data),
        "rewrite" => rewrite(data),
        "header_rules" => header_rules(data),
        "scenario" => scenario(data),
        "path" => path(data),
        _ => return false,
    }
    true
}

/// `${VAR}` lookups during fuzzing: one known variable, the rest missing.
fn lookup(name: &str) -> Option<String> {
    (name == "FUZZ_UPSTREAM").then(|| "127.0.0.1:9".to_string())
}

/// YAML bytes → parse, substitute, validate, and compile a generation.
/// A config that validates must compile (the only loading error left is a
/// file the config names, which fuzz inputs may point anywhere).
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(parsed) = config::parse(text, "fuzz.yaml", &lookup) else {
        return;
    };
    let loaded = LoadedConfig {
        config: parsed,
        source: ConfigSource::Embedded,
    };
    let _ = Generation::build(loaded, None, 1);
}

/// The fixed config that `routing` looks requests up in.
const ROUTING_CONFIG: &str = r#"
version: 1
gateway:
  listeners: [ { address: "127.0.0.1:1" } ]
  clusters:
    a: { endpoints: [ { address: "127.0.0.1:2" } ] }
  routes:
    - { name: root, match: { path_prefix: / }, cluster: a }
    - { name: api, match: { path_prefix: /api }, cluster: a, rewrite: { strip_prefix: true } }
    - { name: api-v1-get, match: { path_prefix: /api/v1, methods: [GET, HEAD] }, cluster: a }
    - { name: exact-host, match: { host: api.example.com, path_prefix: /x }, cluster: a }
    - { name: wild-host, match: { host: "*.example.com" }, cluster: a }
    - { name: wild-deep, match: { host: "*.b.example.com", path_prefix: /deep }, cluster: a }
    - { name: admin, match: { path_prefix: /admin, methods: [POST] }, cluster: a, rewrite: { replace_prefix: /internal/admin } }
"#;

fn routing_generation() -> &'static Generation {
    static GENERATION: OnceLock<Generation> = OnceLock::new();
    GENERATION.get_or_init(|| {
        let parsed = config::parse(ROUTING_CONFIG, "routing.yaml", &lookup)
            .unwrap_or_else(|e| panic!("the routing config is valid: {e}"));
        let loaded = LoadedConfig {
            config: parsed,
            source: ConfigSource::Embedded,
        };
        Generation::build(loaded, None, 1)
            .unwrap_or_else(|e| panic!("the routing config compiles: {e}"))
    })
}

/// Splits `data` at the first `n - 1` newlines into `n` parts (missing
/// parts are empty).
fn fields(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut parts: Vec<&[u8]> = data.splitn(n, |b| *b == b'\n').collect();
    parts.resize(n, b"");
    parts
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `host \n path \n method` → route lookup on a fixed table. The chosen
/// route must really match: its prefix starts the path, its method list
/// (if any) has the method. Then its path rewrite is applied.
pub fn routing(data: &[u8]) {
    let [host, path, method] = fields(data, 3)[..] else {
        return;
    };
    let (host, path) = (lossy(host), lossy(path));
    let method = Method::from_bytes(method).unwrap_or(Method::GET);
    let generation = routing_generation();
    let Some(index) = generation.routes.find(&host, &path, &method) else {
        return;
    };
    let route = generation.routes.get(index);
    let matcher = generation.routes.matcher(index);
    assert!(
        path.starts_with(matcher.prefix.as_str()),
        "route {} (prefix {:?}) chosen for path {path:?}",
        route.name,
        matcher.prefix
    );
    if let Some(methods) = &matcher.methods {
        assert!(
            methods.contains(&method),
            "route {} for {method}",
            route.name
        );
    }
    if let Some(rewritten) = route.rewrite.path.apply(&path, &route.rewrite.prefix) {
        assert!(!rewritten.is_empty(), "rewrite of {path:?} is empty");
    }
}

/// `replace_prefix \n prefix \n path \n query \n remove,… \n k=v&…` →
/// path and query rewriting. A rewritten path is never empty; removed
/// parameters are gone and set parameters appear exactly once.
pub fn rewrite(data: &[u8]) {
    let [with, prefix, path, query, remove, set] = fields(data, 6)[..] else {
        return;
    };
    let (with, prefix, path) = (lossy(with), lossy(prefix), lossy(path));
    let strip = with == "-";
    let cfg = RewriteConfig {
        strip_prefix: strip,
        replace_prefix: (!strip).then(|| with.clone()),
    };
    if let Some(out) = PathRewrite::new(Some(&cfg)).apply(&path, &prefix) {
        assert!(!out.is_empty(), "rewrite of {path:?} is empty");
    }

    let mut qc = QueryConfig {
        remove: lossy(remove)
            .split(',')
            .filter(|k| !k.is_empty())
            .map(str::to_string)
            .collect(),
        set: BTreeMap::new(),
    };
    for pair in lossy(set).split('&') {
        if let Some((k, v)) = pair.split_once('=') {
            if !k.is_empty() && !k.contains('&') {
                qc.set.insert(k.to_string(), v.to_string());
            }
        }
    }
    let query = lossy(query);
    let rewrite = QueryRewrite::new(Some(&qc));
    let out = rewrite.apply((!query.is_empty()).then_some(query.as_str()));
    let keys: Vec<&str> = out
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').map_or(p, |(k, _)| k))
        .collect();
    for k in qc.set.keys() {
        if k.contains('=') {
            continue;
        }
        let n = keys.iter().filter(|x| **x == k.as_str()).count();
        assert_eq!(n, 1, "set parameter {k:?} appears {n} times in {out:?}");
    }
    for k in &qc.remove {
        if qc.set.contains_key(k) || k.contains('=') || k.contains('&') {
            continue;
        }
        assert!(
            !keys.contains(&k.as_str()),
            "removed {k:?} still in {out:?}"
        );
    }
}

/// Lines `s NAME: VALUE`, `a NAME: VALUE`, `r NAME`, `h NAME: VALUE` build
/// set/add/remove rules and a request's own headers; the rules are applied.
/// Afterwards removed names (not also set or added) are absent and set
/// names (not also added) have exactly one value.
pub fn header_rules(data: &[u8]) {
    let text = lossy(data);
    let mut cfg = HeaderRulesConfig::default();
    let mut req = match RequestHeader::build("GET", b"/", None) {
        Ok(r) => r,
        Err(e) => panic!("building a request header: {e}"),
    };
    for line in text.lines() {
        let Some((kind, rest)) = line.split_once(' ') else {
            continue;
        };
        let (name, value) = rest.split_once(": ").unwrap_or((rest, ""));
        match kind {
            "s" => {
                cfg.set.insert(name.to_string(), value.to_string());
            }
            "a" => {
                cfg.add.insert(name.to_string(), value.to_string());
            }
            "r" => cfg.remove.push(name.to_string()),
            "h" => {
                let _ = req.append_header(name.to_string(), value);
            }
            _ => {}
        }
    }
    let rules = HeaderRules::new(&cfg);
    rules.apply(&mut req);
    let lower: BTreeMap<String, ()> = cfg
        .set
        .keys()
        .chain(cfg.add.keys())
        .map(|k| (k.to_ascii_lowercase(), ()))
        .collect();
    for name in &cfg.remove {
        let Ok(parsed) = http::HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        if lower.contains_key(parsed.as_str()) {
            continue;
        }
        assert!(req.headers.get(&parsed).is_none(), "{name:?} not removed");
    }
    let added: Vec<String> = cfg.add.keys().map(|k| k.to_ascii_lowercase()).collect();
    let mut set_names: BTreeMap<String, usize> = BTreeMap::new();
    for (name, value) in &cfg.set {
        if http::HeaderName::from_bytes(name.as_bytes()).is_ok()
            && http::HeaderValue::from_str(value).is_ok()
        {
            *set_names.entry(name.to_ascii_lowercase()).or_default() += 1;
        }
    }
    for (name, n) in set_names {
        // Two spellings of one name both set it; skip such inputs.
        if n > 1 || added.contains(&name) {
            continue;
        }
        let count = req.headers.get_all(name.as_str()).iter().count();
        assert_eq!(count, 1, "set header {name:?} has {count} values");
    }
}

/// Scenario YAML → the harness's loader (which reads from a path, so the
/// bytes go to a file in a per-process temp directory). Must never panic.
pub fn scenario(data: &[u8]) {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("temp dir for scenario fuzzing: {e}"),
    });
    // The loader insists that `name:` matches the file name; use it so
    // inputs get past that check to the steps.
    let name = std::str::from_utf8(data)
        .ok()
        .and_then(|t| t.lines().find_map(|l| l.strip_prefix("name: ")))
        .map(str::trim)
        .filter(|n| {
            (1..=64).contains(&n.len())
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .unwrap_or("fuzz");
    let path = dir.path().join(format!("{name}.yaml"));
    if std::fs::write(&path, data).is_ok() {
        let _ = harness::scenario::load(&path);
    }
    let _ = std::fs::remove_file(&path);
}

/// First byte: policy (bit 0 merges slashes, bits 1-2 pick the escaped
/// slash handling); then `path \n host \n method`. A normalised path is
/// absolute (or `*`), has no dot segment, no backslash, no `//` when merging,
/// and normalising it again changes nothing; routing it picks a route whose
/// prefix starts it.
pub fn path(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let policy = PathPolicy {
        merge_slashes: flags & 1 == 1,
        escaped_slashes: match (flags >> 1) & 3 {
            0 => EscapedSlashes::Reject,
            1 => EscapedSlashes::Keep,
            _ => EscapedSlashes::Decode,
        },
    };
    let [raw, host, method] = fields(rest, 3)[..] else {
        return;
    };
    let raw = lossy(raw);
    let Ok(normal) = normalize_path(&raw, &policy) else {
        return;
    };
    if normal == "*" {
        return;
    }
    assert!(
        normal.starts_with('/'),
        "{raw:?} → {normal:?} is not absolute"
    );
    assert!(
        !normal.contains('\\'),
        "{raw:?} → {normal:?} has a backslash"
    );
    for segment in normal.split('/') {
        let name = segment.split(';').next().unwrap_or(segment);
        assert!(
            name != "." && name != "..",
            "{raw:?} → {normal:?} keeps a dot segment"
        );
    }
    if policy.merge_slashes {
        assert!(!normal.contains("//"), "{raw:?} → {normal:?} keeps //");
    }
    match normalize_path(&normal, &policy) {
        Ok(again) => assert_eq!(again, normal, "normalising {raw:?} twice differs"),
        Err(e) => panic!("{raw:?} → {normal:?} is refused when normalised again: {e}"),
    }
    let method = Method::from_bytes(method).unwrap_or(Method::GET);
    let generation = routing_generation();
    if let Some(index) = generation.routes.find(&lossy(host), &normal, &method) {
        let route = generation.routes.get(index);
        let prefix = &generation.routes.matcher(index).prefix;
        assert!(
            normal.starts_with(prefix.as_str()),
            "route {} for normalised path {normal:?}",
            route.name
        );
    }
}
