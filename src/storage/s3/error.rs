//! S3's refusals as typed errors: the error body S3 sends (`<Error><Code>`), the status, and
//! what the request was, mapped to an [`S3Error`] whose text names the bucket (and key) and
//! what the operator should do. No I/O.

use std::fmt;
use std::time::Duration;

use instant_xml::FromXml;

/// What went wrong, naming the bucket (and key) and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S3Error {
    /// A `[storage]` value this client cannot use (`key` is the configuration key).
    Config {
        key: &'static str,
        reason: String,
    },
    /// The endpoint did not answer (DNS, refused connection, TLS).
    Unreachable {
        bucket: String,
        endpoint: String,
        reason: String,
    },
    /// No complete answer within the timeout.
    Timeout {
        bucket: String,
        key: String,
        after: Duration,
    },
    NoSuchBucket {
        bucket: String,
    },
    NoSuchKey {
        bucket: String,
        key: String,
    },
    /// 403 InvalidAccessKeyId / SignatureDoesNotMatch (or a bare 403 to HEAD bucket).
    Credentials {
        bucket: String,
        code: String,
    },
    /// 403 AccessDenied: the credentials are right, the bucket policy does not allow the action.
    AccessDenied {
        bucket: String,
        key: String,
        action: &'static str,
    },
    /// The bucket lives in another region than `region`.
    WrongRegion {
        bucket: String,
        configured: String,
        actual: String,
    },
    /// RequestTimeTooSkewed: the signature's time is off.
    ClockSkew {
        bucket: String,
    },
    /// An object larger than the caller accepts (`size` when the answer declared it).
    TooLarge {
        bucket: String,
        key: String,
        size: Option<u64>,
        max: u64,
    },
    /// A response that is not the XML S3 sends.
    Xml {
        bucket: String,
        what: &'static str,
        reason: String,
    },
    /// Any other refusal (5xx, throttling, ...): `code` and `message` as S3 sent them.
    Status {
        bucket: String,
        key: String,
        status: u16,
        code: String,
        message: String,
    },
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            S3Error::Config { key, reason } => write!(f, "[storage] {key}: {reason}"),
            S3Error::Unreachable {
                bucket,
                endpoint,
                reason,
            } => write!(
                f,
                "S3 bucket {bucket}: cannot reach {endpoint} ({reason}); check [storage] \
                 regionendpoint / region and that the endpoint is up and reachable from here"
            ),
            S3Error::Timeout { bucket, key, after } => write!(
                f,
                "S3 bucket {bucket}: no complete answer for {} within {} s; check the \
                 endpoint's health and network, or raise the storage timeout",
                shown(key),
                after.as_secs_f64()
            ),
            S3Error::NoSuchBucket { bucket } => write!(
                f,
                "S3 bucket {bucket} does not exist at this endpoint; set [storage] bucket (and \
                 region / regionendpoint) to the values of the registry's config.yml"
            ),
            S3Error::NoSuchKey { bucket, key } => {
                write!(f, "S3 bucket {bucket}: no object {key}")
            }
            S3Error::Credentials { bucket, code } => write!(
                f,
                "S3 bucket {bucket}: the endpoint refused the credentials ({code}); set \
                 [storage] accesskey and secretkey to a valid key pair (those of the \
                 registry's config.yml work)"
            ),
            S3Error::AccessDenied {
                bucket,
                key,
                action,
            } => write!(
                f,
                "S3 bucket {bucket}: access denied to {action} on {}; allow the key \
                 s3:ListBucket, s3:GetObject, s3:ListBucketMultipartUploads and \
                 s3:ListMultipartUploadParts on the bucket (read-only)",
                shown(key)
            ),
            S3Error::WrongRegion {
                bucket,
                configured,
                actual,
            } => write!(
                f,
                "S3 bucket {bucket} is not in region {configured:?}{}; set [storage] region",
                if actual.is_empty() {
                    String::new()
                } else {
                    format!(" but in {actual:?}")
                }
            ),
            S3Error::ClockSkew { bucket } => write!(
                f,
                "S3 bucket {bucket}: the endpoint says this machine's clock is off \
                 (RequestTimeTooSkewed); synchronise the clock (NTP)"
            ),
            S3Error::TooLarge {
                bucket,
                key,
                size,
                max,
            } => write!(
                f,
                "S3 bucket {bucket}: object {key} {} is larger than the {max} bytes accepted; \
                 not read",
                size.map(|n| format!("({n} bytes)")).unwrap_or_default()
            ),
            S3Error::Xml {
                bucket,
                what,
                reason,
            } => write!(
                f,
                "S3 bucket {bucket}: the answer to {what} is not S3's XML ({reason}); is \
                 [storage] regionendpoint an S3 endpoint?"
            ),
            S3Error::Status {
                bucket,
                key,
                status,
                code,
                message,
            } => write!(
                f,
                "S3 bucket {bucket}: {} answered HTTP {status} {code} {message:?}; retried at \
                 the next scan",
                shown(key)
            ),
        }
    }
}

impl std::error::Error for S3Error {}

fn shown(key: &str) -> String {
    if key.is_empty() {
        "the bucket".into()
    } else {
        format!("key {key}")
    }
}

/// What the request was, for [`classify`].
pub(crate) struct Ctx<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    pub region: &'a str,
    pub action: &'static str,
}

/// S3's `<Error>` body (every field may be missing: HEAD answers have no body).
#[derive(Debug, Default, Clone, PartialEq, Eq, FromXml)]
#[xml(rename = "Error")]
pub(crate) struct ErrorBody {
    #[xml(rename = "Code")]
    pub code: Option<String>,
    #[xml(rename = "Message")]
    pub message: Option<String>,
    #[xml(rename = "Region")]
    pub region: Option<String>,
}

pub(crate) fn parse_error(body: &str) -> ErrorBody {
    instant_xml::from_str(body).unwrap_or_default()
}

/// The typed error for HTTP `status` with S3's error body.
pub(crate) fn classify(
    status: u16,
    body: &ErrorBody,
    region_header: &str,
    cx: &Ctx<'_>,
) -> S3Error {
    let bucket = cx.bucket.to_string();
    let code = body.code.clone().unwrap_or_default();
    match (status, code.as_str()) {
        (_, "NoSuchBucket") => S3Error::NoSuchBucket { bucket },
        (404, "") if cx.key.is_empty() => S3Error::NoSuchBucket { bucket },
        (_, "NoSuchKey") | (404, "") => S3Error::NoSuchKey {
            bucket,
            key: cx.key.into(),
        },
        (_, "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "InvalidToken" | "ExpiredToken") => {
            S3Error::Credentials { bucket, code }
        }
        (_, "AccessDenied") => S3Error::AccessDenied {
            bucket,
            key: cx.key.into(),
            action: cx.action,
        },
        (403, "") => S3Error::Credentials {
            bucket,
            code: "HTTP 403 without a reason".into(),
        },
        (_, "RequestTimeTooSkewed") => S3Error::ClockSkew { bucket },
        (
            301 | 307 | 400,
            "PermanentRedirect"
            | "AuthorizationHeaderMalformed"
            | "IllegalLocationConstraintException"
            | "",
        ) if !region_header.is_empty() || body.region.is_some() || status == 301 => {
            let actual = body
                .region
                .clone()
                .unwrap_or_else(|| region_header.to_string());
            S3Error::WrongRegion {
                bucket,
                configured: cx.region.into(),
                actual,
            }
        }
        _ => S3Error::Status {
            bucket,
            key: cx.key.into(),
            status,
            code,
            message: body.message.clone().unwrap_or_default(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx<'a>(key: &'a str) -> Ctx<'a> {
        Ctx {
            bucket: "b",
            key,
            region: "eu-west-1",
            action: "s3:GetObject",
        }
    }

    fn aws_error(code: &str) -> ErrorBody {
        parse_error(&format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>m</Message>\
             <RequestId>4442587FB7D0A2F9</RequestId><HostId>h</HostId></Error>"
        ))
    }

    #[test]
    fn errors_are_typed_from_status_and_code() {
        let e = classify(403, &aws_error("InvalidAccessKeyId"), "", &cx(""));
        assert_eq!(
            e,
            S3Error::Credentials {
                bucket: "b".into(),
                code: "InvalidAccessKeyId".into()
            }
        );
        assert!(e.to_string().contains("accesskey and secretkey"), "{e}");
        let e = classify(403, &aws_error("SignatureDoesNotMatch"), "", &cx(""));
        assert!(matches!(e, S3Error::Credentials { .. }));
        let e = classify(403, &ErrorBody::default(), "", &cx(""));
        assert!(
            matches!(e, S3Error::Credentials { .. }),
            "a bare 403 (HEAD)"
        );
        let e = classify(403, &aws_error("AccessDenied"), "", &cx("k"));
        assert!(e.to_string().contains("s3:GetObject on key k"), "{e}");
        let e = classify(404, &aws_error("NoSuchBucket"), "", &cx("k"));
        assert_eq!(e, S3Error::NoSuchBucket { bucket: "b".into() });
        assert!(e.to_string().contains("S3 bucket b does not exist"), "{e}");
        assert_eq!(
            classify(404, &ErrorBody::default(), "", &cx("")),
            S3Error::NoSuchBucket { bucket: "b".into() }
        );
        assert_eq!(
            classify(404, &aws_error("NoSuchKey"), "", &cx("k")),
            S3Error::NoSuchKey {
                bucket: "b".into(),
                key: "k".into()
            }
        );
        assert_eq!(
            classify(403, &aws_error("RequestTimeTooSkewed"), "", &cx("")),
            S3Error::ClockSkew { bucket: "b".into() }
        );
        let e = classify(301, &ErrorBody::default(), "us-west-2", &cx(""));
        assert_eq!(
            e,
            S3Error::WrongRegion {
                bucket: "b".into(),
                configured: "eu-west-1".into(),
                actual: "us-west-2".into()
            }
        );
        let body = parse_error(
            "<Error><Code>AuthorizationHeaderMalformed</Code><Message>m</Message><Region>ap-south-1</Region></Error>",
        );
        assert!(
            matches!(classify(400, &body, "", &cx("")), S3Error::WrongRegion { actual, .. } if actual == "ap-south-1")
        );
        let e = classify(503, &aws_error("SlowDown"), "", &cx("k"));
        assert!(
            matches!(&e, S3Error::Status { status: 503, code, .. } if code == "SlowDown"),
            "{e}"
        );
        let e = classify(502, &parse_error("<html>bad gateway</html>"), "", &cx("k"));
        assert!(
            matches!(&e, S3Error::Status { status: 502, code, .. } if code.is_empty()),
            "{e}"
        );
    }
}
