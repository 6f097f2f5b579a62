//! The layers of the benches' generated registries (included by benches/render.rs and
//! benches/cleanup.rs with `#[path]`): which blobs a tag's manifest lists and their sizes.
//! Only the digest scheme and the registry's size; each bench picks its own tag names,
//! aliases and times.

use std::collections::HashMap;

/// The blob digests of tag `t` in repository `r` (of `tags` per repository), recording each
/// blob's size in `blobs`: 3 base layers shared with other repositories (`r % 50` picks the
/// set, `base_stride` apart), 1 per-repository layer, 2 per-tag blobs (config + layer).
pub fn tag_blobs(
    blobs: &mut HashMap<String, u64>,
    r: usize,
    t: usize,
    tags: usize,
    base_stride: usize,
) -> Vec<String> {
    let mut bl: Vec<String> = (0..3)
        .map(|i| format!("sha256:{:064x}", (r % 50) * base_stride + i))
        .collect();
    bl.push(format!("sha256:{:064x}", 1_000_000 + r));
    bl.push(format!("sha256:{:064x}", 10_000_000 + r * tags + t));
    bl.push(format!("sha256:{:064x}", 50_000_000 + r * tags + t));
    for (i, d) in bl.iter().enumerate() {
        blobs
            .entry(d.clone())
            .or_insert(1000 + (i as u64) * 12345 + (r * t) as u64);
    }
    bl
}

/// `REPOS TAGS` from the command line (numbers only; others are skipped), by default
/// 10,000 repositories of 10 tags.
pub fn size_from_args() -> (usize, usize) {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    (
        args.first().copied().unwrap_or(10_000),
        args.get(1).copied().unwrap_or(10),
    )
}
