//! What a warm crawl of unchanged content asks the registry, checked the same way against the
//! fake and the real registry: a manifest HEAD per tag, and no manifest GET, blob HEAD or
//! config GET (everything else comes from the previous snapshot).

use gitlab_registry_usage_rest::registry::{Kind, RequestStats};

/// Asserts the request counts of a warm crawl of `tags` unchanged tags.
pub fn assert_warm_requests(w: &RequestStats, tags: u64) {
    assert_eq!(
        (
            w[Kind::ManifestGet],
            w[Kind::ManifestHead],
            w[Kind::BlobHead]
        ),
        (0, tags, 0),
        "{w}"
    );
    assert_eq!(w[Kind::ConfigGet], 0, "{w}");
}
