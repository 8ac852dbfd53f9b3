//! The `cacheable` mock: conditional requests by `If-None-Match` and by
//! `If-Modified-Since`, `bump_version`, and `hold` until `release`.

use harness::upstream::Cacheable;
use harness::MockUpstream;
use std::time::Duration;

const LAST_MODIFIED: &str = "Mon, 02 Nov 2026 10:00:00 GMT";

async fn get(mock: &MockUpstream, headers: &[(&str, &str)]) -> (u16, String) {
    let mut req = reqwest::Client::new().get(format!("http://{}/r", mock.addr()));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("response");
    let status = resp.status().as_u16();
    (status, resp.text().await.expect("body"))
}

#[tokio::test]
async fn conditionals_match_the_current_version_until_it_is_bumped() {
    let mock = MockUpstream::start("origin", Cacheable::new("max-age=60"))
        .await
        .unwrap();
    assert_eq!(get(&mock, &[]).await, (200, "version 1".into()));
    assert_eq!(get(&mock, &[("if-none-match", "\"v1\"")]).await.0, 304);
    assert_eq!(
        get(&mock, &[("if-modified-since", LAST_MODIFIED)]).await.0,
        304
    );
    // If-None-Match wins over If-Modified-Since.
    let both = [
        ("if-none-match", "\"v0\""),
        ("if-modified-since", LAST_MODIFIED),
    ];
    assert_eq!(get(&mock, &both).await, (200, "version 2".into()));
    assert!(mock.bump_version());
    assert_eq!(
        get(&mock, &[("if-modified-since", LAST_MODIFIED)]).await,
        (200, "version 3".into())
    );
    // Only the next response is forced; the new version matches again.
    assert_eq!(get(&mock, &[("if-none-match", "\"v3\"")]).await.0, 304);
}

#[tokio::test(flavor = "multi_thread")]
async fn held_requests_wait_for_release() {
    let mock = std::sync::Arc::new(
        MockUpstream::start("origin", Cacheable::new("max-age=60").hold())
            .await
            .unwrap(),
    );
    let parked = tokio::spawn({
        let mock = mock.clone();
        async move { get(&mock, &[]).await }
    });
    harness::wait::until(
        "the request to reach the mock",
        Duration::from_secs(5),
        || {
            let hits = mock.hits();
            async move { (hits == 1).then_some(()) }
        },
    )
    .await
    .unwrap();
    // Counted, so it is inside the behaviour: parked, not answered.
    assert!(!parked.is_finished());
    assert!(mock.release());
    let answered = tokio::time::timeout(Duration::from_secs(5), parked)
        .await
        .expect("answered after release")
        .unwrap();
    assert_eq!(answered, (200, "version 1".into()));
    // Later requests are answered at once.
    assert_eq!(get(&mock, &[]).await, (200, "version 2".into()));
}
