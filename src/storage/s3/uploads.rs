//! ListMultipartUploads pages (which rusty-s3 does not parse): uploads with their keys
//! decoded, and the markers of the next page. No I/O.

use instant_xml::FromXml;

const S3_NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

#[derive(FromXml)]
#[xml(rename = "ListMultipartUploadsResult", ns(S3_NS))]
struct UploadsXml {
    #[xml(rename = "IsTruncated")]
    is_truncated: Option<bool>,
    #[xml(rename = "NextKeyMarker")]
    next_key_marker: Option<String>,
    #[xml(rename = "NextUploadIdMarker")]
    next_upload_id_marker: Option<String>,
    #[xml(rename = "EncodingType")]
    encoding_type: Option<String>,
    uploads: Vec<UploadXml>,
}

#[derive(FromXml)]
#[xml(rename = "Upload", ns(S3_NS))]
struct UploadXml {
    #[xml(rename = "Key")]
    key: String,
    #[xml(rename = "UploadId")]
    upload_id: String,
    #[xml(rename = "Initiated")]
    initiated: String,
}

/// One page of ListMultipartUploads, keys decoded.
pub(crate) struct UploadsPage {
    pub uploads: Vec<Upload>,
    /// (key marker, upload id marker) of the next page, when truncated.
    pub next: Option<(String, String)>,
}

pub(crate) struct Upload {
    pub key: String,
    pub upload_id: String,
    pub initiated: String,
}

pub(crate) fn parse_uploads(body: &str) -> Result<UploadsPage, String> {
    let x: UploadsXml = instant_xml::from_str(body).map_err(|e| e.to_string())?;
    let encoded = x.encoding_type.as_deref() == Some("url");
    let decode = |s: String| if encoded { url_decode(&s) } else { s };
    let next = match (x.is_truncated, x.next_key_marker, x.next_upload_id_marker) {
        (Some(true), Some(k), Some(i)) if !k.is_empty() => Some((decode(k), i)),
        (Some(true), _, _) => {
            return Err("truncated without NextKeyMarker / NextUploadIdMarker".into())
        }
        _ => None,
    };
    let uploads = x
        .uploads
        .into_iter()
        .map(|u| Upload {
            key: decode(u.key),
            upload_id: u.upload_id,
            initiated: u.initiated,
        })
        .collect();
    Ok(UploadsPage { uploads, next })
}

/// A ListParts page for rusty-s3's parser: moto 5 names its root `ListPartsResponse`, where
/// AWS (and MinIO, Ceph) say `ListPartsResult`; the contents are the same.
pub(crate) fn parts_result(body: &str) -> std::borrow::Cow<'_, str> {
    if body.contains("<ListPartsResponse") {
        body.replacen("<ListPartsResponse", "<ListPartsResult", 1)
            .replacen("</ListPartsResponse>", "</ListPartsResult>", 1)
            .into()
    } else {
        body.into()
    }
}

/// `encoding-type=url` values: form encoding (`+` is a space), as AWS sends them.
fn url_decode(s: &str) -> String {
    let plus = s.replace('+', " ");
    match percent_encoding::percent_decode_str(&plus).decode_utf8() {
        Ok(d) => d.into_owned(),
        Err(_) => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UPLOADS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Bucket>b</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>
  <NextKeyMarker>r/docker/b+c</NextKeyMarker><NextUploadIdMarker>id2</NextUploadIdMarker>
  <EncodingType>url</EncodingType><MaxUploads>2</MaxUploads><IsTruncated>true</IsTruncated>
  <Upload><Key>r/docker/a%2Bb</Key><UploadId>id1</UploadId>
    <Initiator><ID>i</ID><DisplayName>d</DisplayName></Initiator>
    <Owner><ID>o</ID><DisplayName>d</DisplayName></Owner>
    <StorageClass>STANDARD</StorageClass><Initiated>2026-12-03T07:04:57.000Z</Initiated></Upload>
  <Upload><Key>r/docker/b+c</Key><UploadId>id2</UploadId><Initiated>2026-12-03T07:05:00Z</Initiated></Upload>
</ListMultipartUploadsResult>"#;

    #[test]
    fn uploads_page_parses_and_decodes() {
        let p = parse_uploads(UPLOADS).unwrap();
        let got: Vec<_> = p
            .uploads
            .iter()
            .map(|u| (u.key.as_str(), u.upload_id.as_str(), u.initiated.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("r/docker/a+b", "id1", "2026-12-03T07:04:57.000Z"),
                ("r/docker/b c", "id2", "2026-12-03T07:05:00Z")
            ]
        );
        assert_eq!(p.next, Some(("r/docker/b c".into(), "id2".into())));
        assert_eq!(
            crate::snapshot::time::parse_rfc3339("2026-12-03T07:04:57.000Z"),
            Some(1_796_281_497)
        );

        let last = UPLOADS.replace("<IsTruncated>true", "<IsTruncated>false");
        assert!(parse_uploads(&last).unwrap().next.is_none());
        let broken = UPLOADS.replace("<NextKeyMarker>r/docker/b+c</NextKeyMarker>", "");
        assert!(
            parse_uploads(&broken).is_err(),
            "truncated without a marker would loop or stop early"
        );
        assert!(parse_uploads("<html>").is_err());
        let none = r#"<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>"#;
        assert!(parse_uploads(none).unwrap().uploads.is_empty());
    }

    #[test]
    fn moto_parts_pages_parse_as_aws_ones() {
        let aws = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket><Key>k</Key>
<UploadId>u</UploadId><PartNumberMarker>0</PartNumberMarker><NextPartNumberMarker>2</NextPartNumberMarker>
<MaxParts>1000</MaxParts><IsTruncated>false</IsTruncated>
<Part><PartNumber>1</PartNumber><LastModified>2026-12-03T08:09:54.000Z</LastModified><ETag>"e"</ETag><Size>5242880</Size></Part>
<Part><PartNumber>2</PartNumber><LastModified>2026-12-03T08:09:54.000Z</LastModified><ETag>"f"</ETag><Size>3</Size></Part>
</ListPartsResult>"#;
        let moto = aws.replace("ListPartsResult", "ListPartsResponse");
        for body in [aws.to_string(), moto] {
            let page = rusty_s3::actions::ListParts::parse_response(&parts_result(&body)).unwrap();
            assert_eq!(page.parts.iter().map(|p| p.size).sum::<u64>(), 5_242_883);
            assert_eq!(page.next_part_number_marker, None, "not truncated");
        }
    }

    #[test]
    fn url_decoding_is_form_decoding() {
        assert_eq!(url_decode("a%2Bb+c%C3%BC"), "a+b cü");
        assert_eq!(url_decode("%FF"), "%FF", "not UTF-8: left as is");
    }
}
