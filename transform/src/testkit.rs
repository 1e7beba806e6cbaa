//! Test support for the local emulators (feature `test-util`): finding them, creating streams
//! and buckets, and reading back what was sent. kinesalite stands in for Kinesis (real 56-digit
//! sequence numbers), moto server for Firehose and S3 (see shared/design/TOOLING.md).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test support

use std::io::{Read, Write};
use std::time::Duration;

pub use spendguard_aws::testkit::{
    create_stream, emulator, emulator_config, read_stream, unique, ReadRecord, KINESIS_VAR,
    MOTO_VAR,
};

/// moto does not verify signatures, but treats a request without `Authorization` as anonymous
/// and refuses it private objects.
const FAKE_AUTH: &str = "AWS4-HMAC-SHA256 Credential=test/20261122/us-east-1/s3/aws4_request, \
                         SignedHeaders=host, Signature=0";

/// Minimal HTTP/1.1 to moto's S3: (status, body).
pub fn http(endpoint: &str, method: &str, path: &str) -> (u16, Vec<u8>) {
    let hostport = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(hostport).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {hostport}\r\nAuthorization: {FAKE_AUTH}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let split = buf
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP response");
    let head = String::from_utf8_lossy(&buf[..split]).to_string();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status code");
    let mut body = buf[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        body = dechunk(&body);
    }
    (status, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(std::str::from_utf8(&b[..eol]).unwrap().trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
    out
}

/// Creates an S3 bucket in moto.
pub fn create_bucket(moto: &str, bucket: &str) {
    let (status, body) = http(moto, "PUT", &format!("/{bucket}"));
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}

/// Every object of a bucket, key order.
pub fn bucket_objects(moto: &str, bucket: &str) -> Vec<(String, Vec<u8>)> {
    let (status, body) = http(moto, "GET", &format!("/{bucket}?list-type=2"));
    assert_eq!(status, 200);
    let xml = String::from_utf8(body).unwrap();
    let mut keys: Vec<String> = xml
        .split("<Key>")
        .skip(1)
        .filter_map(|s| s.split("</Key>").next())
        .map(str::to_string)
        .collect();
    keys.sort();
    keys.into_iter()
        .map(|k| {
            let (status, body) = http(moto, "GET", &format!("/{bucket}/{k}"));
            assert_eq!(status, 200, "GET {k}");
            (k, body)
        })
        .collect()
}

/// A DirectPut delivery stream writing to `bucket` (moto concatenates the raw records).
pub async fn create_delivery_stream(f: &aws_sdk_firehose::Client, name: &str, bucket: &str) {
    use aws_sdk_firehose::types::{DeliveryStreamType, ExtendedS3DestinationConfiguration};
    f.create_delivery_stream()
        .delivery_stream_name(name)
        .delivery_stream_type(DeliveryStreamType::DirectPut)
        .extended_s3_destination_configuration(
            ExtendedS3DestinationConfiguration::builder()
                .role_arn("arn:aws:iam::123456789012:role/firehose")
                .bucket_arn(format!("arn:aws:s3:::{bucket}"))
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}
