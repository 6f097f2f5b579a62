//! What a manifest or an image config says, read from its bytes alone, and content
//! addressing (digests checked against bytes).
//!
//! It owns the meaning of a manifest's shape (per the contract's "Meaning of the numbers"):
//! `manifests` is an index of child manifests; `fsLayers` is schema 1; anything else counts
//! its `config` + `layers` (+ `blobs` of the draft OCI artifact manifest), so unknown media
//! types and artifacts are counted by one rule. Pure functions: no requests (the crawl
//! follows children and asks for sizes and configs), no clock, no I/O.

use std::collections::HashSet;
use std::fmt;

use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// A blob claimed to be larger than this (1 PiB) is a registry error for its tag: no real
/// layer is, and sums of such sizes would overflow.
pub(crate) const MAX_BLOB_SIZE: u64 = 1 << 50;

/// Config media types whose blob is read for the image's creation time. Other configs
/// (artifacts: Helm charts, signatures, the empty config) carry none and cost no request.
const IMAGE_CONFIG_TYPES: [&str; 2] = [
    "application/vnd.docker.container.image.v1+json",
    "application/vnd.oci.image.config.v1+json",
];

/// A blob a manifest refers to; `size` when its descriptor says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlobRef {
    pub(crate) digest: String,
    pub(crate) size: Option<u64>,
}

/// A child of an index: its digest and platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChildRef {
    pub(crate) digest: String,
    pub(crate) os: String,
    pub(crate) architecture: String,
    pub(crate) variant: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A Docker manifest list or OCI image index.
    Index(Vec<ChildRef>),
    /// Docker schema 1: layers whose sizes must be asked; the creation time is inside.
    Schema1 {
        layers: Vec<String>,
        created: Option<i64>,
    },
    /// An image or artifact: config and layers (distinct, config first). `config` is set
    /// when the config is an image config whose creation time is worth one request.
    Image {
        blobs: Vec<BlobRef>,
        config: Option<BlobRef>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Manifest {
    /// The declared media type (the body's `mediaType`, else `Content-Type`), else the
    /// shape's usual one.
    pub(crate) media_type: String,
    pub(crate) shape: Shape,
}

// ---------------------------------------------------------------- the body, typed
//
// Only the fields we use are kept; everything else (annotations, history beyond the first
// entry's config, unknown keys) is skipped while parsing without being stored, so a manifest
// costs about its descriptors, not a tree of every value in it (a generic JSON value took
// about eight times the body's size).

#[derive(Deserialize)]
struct Body {
    #[serde(rename = "mediaType", default)]
    media_type: Text,
    manifests: Option<Vec<RawChild>>,
    #[serde(rename = "fsLayers")]
    fs_layers: Option<Vec<RawLayer>>,
    history: Option<Vec<RawHistory>>,
    config: Option<RawDesc>,
    layers: Option<Vec<RawDesc>>,
    /// The draft OCI artifact manifest's list.
    blobs: Option<Vec<RawDesc>>,
}

#[derive(Deserialize)]
struct RawChild {
    #[serde(default)]
    digest: Text,
    platform: Option<RawPlatform>,
}

#[derive(Deserialize)]
struct RawPlatform {
    #[serde(default)]
    os: Text,
    #[serde(default)]
    architecture: Text,
    #[serde(default)]
    variant: Text,
}

#[derive(Deserialize)]
struct RawLayer {
    #[serde(rename = "blobSum", default)]
    blob_sum: Text,
}

#[derive(Deserialize)]
struct RawHistory {
    #[serde(rename = "v1Compatibility", default)]
    v1_compatibility: Text,
}

#[derive(Deserialize)]
struct RawDesc {
    #[serde(rename = "mediaType", default)]
    media_type: Text,
    #[serde(default)]
    digest: Text,
    #[serde(default)]
    size: Size,
}

/// A string field; any other JSON value in its place is skipped and reads as absent (as
/// registries and tools disagree on what optional fields may hold).
#[derive(Default)]
struct Text(Option<String>);

/// A whole number of bytes; any other value (negative, fractional, text) reads as absent.
#[derive(Default)]
struct Size(Option<u64>);

/// Skips a value of any kind without keeping it; what each field type does with the kinds it
/// wants is its own `visit_*`.
macro_rules! skip_others {
    ($t:ty, $none:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<$t, E> {
            Ok($none)
        }
        fn visit_i64<E>(self, _: i64) -> Result<$t, E> {
            Ok($none)
        }
        fn visit_f64<E>(self, _: f64) -> Result<$t, E> {
            Ok($none)
        }
        fn visit_unit<E>(self) -> Result<$t, E> {
            Ok($none)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<$t, A::Error> {
            while a.next_element::<IgnoredAny>()?.is_some() {}
            Ok($none)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<$t, A::Error> {
            while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok($none)
        }
    };
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E>(self, v: &str) -> Result<Text, E> {
                Ok(Text(Some(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Text, E> {
                Ok(Text(Some(v)))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Text, E> {
                Ok(Text(None))
            }
            skip_others!(Text, Text(None));
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Size, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Size;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_u64<E>(self, v: u64) -> Result<Size, E> {
                Ok(Size(Some(v)))
            }
            fn visit_str<E>(self, _: &str) -> Result<Size, E> {
                Ok(Size(None))
            }
            skip_others!(Size, Size(None));
        }
        d.deserialize_any(V)
    }
}

/// Reads a manifest body. `Err` is the reason it is invalid (for the tag's error).
pub(crate) fn parse(body: &[u8], content_type: Option<&str>) -> Result<Manifest, String> {
    // A struct would also accept an array (by position): only an object is a manifest.
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|&b| b != b'{') && serde_json::from_slice::<IgnoredAny>(body).is_ok() {
        return Err("not a JSON object".into());
    }
    let v: Body = serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            format!("not a manifest: {e}")
        } else {
            format!("not JSON: {e}")
        }
    })?;
    let declared = v.media_type.0.or_else(|| {
        content_type
            .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
            .filter(|c| !c.is_empty() && c != "application/json")
    });
    // The shape's usual media type names a manifest that declares none.
    let (usual, shape) = if let Some(children) = v.manifests {
        ("application/vnd.oci.image.index.v1+json", index(children)?)
    } else if let Some(fs_layers) = v.fs_layers {
        (
            "application/vnd.docker.distribution.manifest.v1+prettyjws",
            schema1(fs_layers, v.history)?,
        )
    } else {
        let descriptors = v
            .layers
            .into_iter()
            .flatten()
            .chain(v.blobs.into_iter().flatten());
        (
            "application/vnd.oci.image.manifest.v1+json",
            image(v.config, descriptors)?,
        )
    };
    Ok(Manifest {
        media_type: declared.unwrap_or_else(|| usual.to_string()),
        shape,
    })
}

/// An index's children with a digest, in order.
fn index(children: Vec<RawChild>) -> Result<Shape, String> {
    let mut out = Vec::new();
    for child in children {
        let Some(d) = child.digest.0 else {
            continue;
        };
        if !valid_digest(&d) {
            return Err(format!("invalid child digest {d:?}"));
        }
        let (os, architecture, variant) = match child.platform {
            Some(p) => (p.os.0, p.architecture.0, p.variant.0),
            None => (None, None, None),
        };
        out.push(ChildRef {
            digest: d,
            os: os.unwrap_or_default(),
            architecture: architecture.unwrap_or_default(),
            variant: variant.filter(|v| !v.is_empty()),
        });
    }
    Ok(Shape::Index(out))
}

/// A schema 1 manifest's distinct layers and the creation time in its history.
fn schema1(fs_layers: Vec<RawLayer>, history: Option<Vec<RawHistory>>) -> Result<Shape, String> {
    let mut layers: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    for d in fs_layers.into_iter().filter_map(|l| l.blob_sum.0) {
        if !valid_digest(&d) {
            return Err(format!("invalid layer digest {d:?}"));
        }
        if seen.insert(d.clone()) {
            layers.push(d);
        }
    }
    // The newest history entry (the first) holds the image's v1 config as a JSON string.
    let created = history
        .and_then(|h| h.into_iter().next())
        .and_then(|e| e.v1_compatibility.0)
        .and_then(|c| created_in(c.as_bytes()));
    Ok(Shape::Schema1 { layers, created })
}

/// An image or artifact: its config, then `others` (layers, then the artifact's blobs),
/// each distinct digest once.
fn image(config: Option<RawDesc>, others: impl Iterator<Item = RawDesc>) -> Result<Shape, String> {
    let image_config = config.as_ref().and_then(|c| {
        let digest = c.digest.0.clone()?;
        let image = c
            .media_type
            .0
            .as_deref()
            .is_none_or(|m| IMAGE_CONFIG_TYPES.contains(&m));
        image.then_some(BlobRef {
            digest,
            size: c.size.0,
        })
    });
    let mut blobs: Vec<BlobRef> = Vec::new();
    let mut seen = HashSet::new();
    for desc in config.into_iter().chain(others) {
        let Some(d) = desc.digest.0 else {
            continue;
        };
        if !valid_digest(&d) {
            return Err(format!("invalid blob digest {d:?}"));
        }
        let size = desc.size.0;
        if let Some(s) = size.filter(|s| *s > MAX_BLOB_SIZE) {
            return Err(format!(
                "blob {d}: the registry says it has {s} bytes, more than 1 PiB"
            ));
        }
        if seen.insert(d.clone()) {
            blobs.push(BlobRef { digest: d, size });
        }
    }
    Ok(Shape::Image {
        blobs,
        config: image_config,
    })
}

/// The `created` field of an image config (JSON), as Unix seconds.
pub(crate) fn created_in(config: &[u8]) -> Option<i64> {
    #[derive(Deserialize)]
    struct Config {
        #[serde(default)]
        created: Text,
    }
    let c: Config = serde_json::from_slice(config).ok()?;
    crate::snapshot::time::parse_rfc3339(&c.created.0?)
}

/// `Some(actual digest)` when `body` does not have the content digest `digest` (sha256 and
/// sha512 are checked; other algorithms cannot be, and pass).
pub(crate) fn content_mismatch(digest: &str, body: &[u8]) -> Option<String> {
    content_digest(digest, body).filter(|actual| actual != digest)
}

/// The digest of `body` with `digest`'s algorithm; `None` for an algorithm other than
/// sha256 and sha512.
pub(crate) fn content_digest(digest: &str, body: &[u8]) -> Option<String> {
    let (alg, algorithm) = match digest.split_once(':')?.0 {
        "sha256" => ("sha256", &ring::digest::SHA256),
        "sha512" => ("sha512", &ring::digest::SHA512),
        _ => return None,
    };
    let d = ring::digest::digest(algorithm, body);
    let mut actual = String::with_capacity(alg.len() + 1 + 2 * d.as_ref().len());
    actual.push_str(alg);
    actual.push(':');
    for b in d.as_ref() {
        actual.push_str(&format!("{b:02x}"));
    }
    Some(actual)
}

/// `algorithm:encoded` as the OCI spec defines it; anything else must not reach a URL path.
pub(crate) fn valid_digest(d: &str) -> bool {
    let Some((alg, enc)) = d.split_once(':') else {
        return false;
    };
    !alg.is_empty()
        && !enc.is_empty()
        && alg
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+._-".contains(&b))
        && enc
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"=_-".contains(&b))
}

/// `sha256:<hex>` of `body`: a content digest as Distribution writes it.
pub(crate) fn sha256_digest(body: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, body);
    let mut s = String::with_capacity(71);
    s.push_str("sha256:");
    for b in d.as_ref() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests() {
        assert!(valid_digest("sha256:0123abcdef"));
        assert!(valid_digest("sha512+b64u:AbC-_="));
        assert!(!valid_digest("sha256:../../x"));
        assert!(!valid_digest("sha256:"));
        assert!(!valid_digest("nocolon"));
        assert_eq!(
            sha256_digest(b"hello"),
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
    }

    #[test]
    fn creation_times_and_content_digests() {
        assert_eq!(
            created_in(br#"{"created":"2024-01-02T03:04:05.999999999Z","os":"linux"}"#),
            Some(1_704_164_645)
        );
        assert_eq!(created_in(br#"{"created":"yesterday"}"#), None);
        assert_eq!(created_in(br#"{"created":12}"#), None);
        assert_eq!(created_in(br#"{"os":"linux"}"#), None);
        assert_eq!(created_in(b"\x1f\x8b not json"), None);
        assert_eq!(created_in(b"[1]"), None);
        let d = sha256_digest(b"{}");
        assert_eq!(content_mismatch(&d, b"{}"), None);
        assert_eq!(content_mismatch(&d, b"{ }"), Some(sha256_digest(b"{ }")));
        assert_eq!(content_mismatch("sha256:ABC", b"{}"), Some(d));
        assert_eq!(content_mismatch("blake3:abc", b"{}"), None);
    }

    #[test]
    fn odd_values_in_known_fields_read_as_absent_and_unknown_fields_are_skipped() {
        let odd = r#"{"mediaType":{"x":[1,2]},"annotations":{"a":"b"},"config":{"digest":"sha256:c","size":-1},
            "layers":[{"digest":"sha256:l","size":1.5,"mediaType":null,"urls":["u"]}]}"#;
        let m = parse(
            odd.as_bytes(),
            Some("application/vnd.docker.distribution.manifest.v2+json"),
        )
        .unwrap();
        assert_eq!(
            m.media_type,
            "application/vnd.docker.distribution.manifest.v2+json"
        );
        let Shape::Image { blobs, config } = m.shape else {
            panic!("{m:?}")
        };
        assert_eq!(
            blobs,
            vec![
                BlobRef {
                    digest: "sha256:c".into(),
                    size: None
                },
                BlobRef {
                    digest: "sha256:l".into(),
                    size: None
                },
            ]
        );
        assert_eq!(config.map(|c| c.size), Some(None));
        let e = parse(br#"{"layers":"not a list"}"#, None).unwrap_err();
        assert!(e.contains("not a manifest"), "{e}");
    }

    #[test]
    fn shapes() {
        let cfg = "sha256:c0";
        let image = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{cfg}","size":7}},
               "layers":[{{"digest":"sha256:l1","size":5}},{{"digest":"sha256:l1","size":5}},{{"digest":"sha256:l2"}}]}}"#
        );
        let m = parse(
            image.as_bytes(),
            Some("application/vnd.oci.image.manifest.v1+json; x=y"),
        )
        .unwrap();
        assert_eq!(m.media_type, "application/vnd.oci.image.manifest.v1+json");
        let Shape::Image { blobs, config } = m.shape else {
            panic!("{m:?}")
        };
        let digests: Vec<&str> = blobs.iter().map(|b| b.digest.as_str()).collect();
        assert_eq!(digests, [cfg, "sha256:l1", "sha256:l2"]);
        assert_eq!(blobs[2].size, None);
        assert_eq!(config.map(|c| c.size), Some(Some(7)));
        // an artifact's config is not read
        let helm = r#"{"config":{"mediaType":"application/vnd.cncf.helm.config.v1+json","digest":"sha256:h","size":2},"layers":[]}"#;
        assert!(matches!(
            parse(helm.as_bytes(), None).unwrap().shape,
            Shape::Image { config: None, .. }
        ));
        let index = r#"{"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[
            {"digest":"sha256:a","platform":{"os":"linux","architecture":"arm64","variant":"v8"}},{"size":1}]}"#;
        let m = parse(index.as_bytes(), None).unwrap();
        assert_eq!(
            m.shape,
            Shape::Index(vec![ChildRef {
                digest: "sha256:a".into(),
                os: "linux".into(),
                architecture: "arm64".into(),
                variant: Some("v8".into()),
            }])
        );
        let s1 = r#"{"schemaVersion":1,"fsLayers":[{"blobSum":"sha256:x"},{"blobSum":"sha256:x"}],
            "history":[{"v1Compatibility":"{\"created\":\"1970-01-01T00:01:00Z\"}"}]}"#;
        assert_eq!(
            parse(s1.as_bytes(), None).unwrap().shape,
            Shape::Schema1 {
                layers: vec!["sha256:x".into()],
                created: Some(60)
            }
        );
        for (bad, why) in [
            (r#"{"layers":[{"digest":"../x"}]}"#, "invalid blob digest"),
            (
                r#"{"manifests":[{"digest":"nope"}]}"#,
                "invalid child digest",
            ),
            (
                r#"{"layers":[{"digest":"sha256:b","size":1125899906842625}]}"#,
                "1 PiB",
            ),
            ("[]", "not a JSON object"),
            ("<html>", "not JSON"),
        ] {
            let e = parse(bad.as_bytes(), None).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
