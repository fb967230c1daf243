//! Unit tests for the signature module: every vector of docs/plivo-api.md §5.5 and round trips.

use super::*;
use proptest::prelude::*;

const V3_TOKEN: &str = "Y2Q2ZDgxZmY5YWRiOTI5YmQ1Njg0MTAxZWIyOTc4";
const V3_NONCE: &str = "31627761595286130198";
const V3_URL_QUERY: &str =
    "https://plivobin.non-prod.plivops.com/api/v1/validate_signature03.xml/?a=b&c=d";
const V3_URL_PLAIN: &str = "https://plivobin.non-prod.plivops.com/api/v1/validate_signature03.xml";

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn v3_params() -> Vec<(String, String)> {
    pairs(&[
        ("Direction", "outbound"),
        ("From", "19792014278"),
        ("ALegUUID", "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36"),
        ("CallStatus", "in-progress"),
        ("BillRate", "0.002"),
        ("ParentAuthID", "MANWVLYTK4ZWU1YTY4QA"),
        (
            "To",
            "sip:PlivoSignature382029104058171078704104@phone-qa.voice.plivodev.com",
        ),
        ("ALegRequestUUID", "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36"),
        ("CallUUID", "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36"),
        ("RequestUUID", "3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36"),
        (
            "SIP-H-To",
            "<sip:PlivoSignature382029104058171078704104@52.9.11.55;transport=udp>;tag=1",
        ),
        ("SessionStart", "2020-04-08 11:34:33.238707"),
        ("Event", "StartApp"),
    ])
}

#[test]
fn v3_sdk_vectors() {
    let params = v3_params();
    let cases = [
        (
            "POST",
            V3_URL_QUERY,
            "k7Pusd4OxCIjR5IfA9iedDNu/h/gbdYqdzG/MiYtd1c=",
        ),
        (
            "GET",
            V3_URL_QUERY,
            "UBq8jAtd32wR8EK9VgxbBn4n5rpI/l1H9iN4WfSEHFQ=",
        ),
        (
            "POST",
            V3_URL_PLAIN,
            "iAjE5QqI37mbkYe4w3jTMudqEzbDufdqi7sYwTu64e0=",
        ),
        (
            "GET",
            V3_URL_PLAIN,
            "i/MQsaQSAd6fiKhOh2qeeeLHZ9faldADSb3/7+Akfbc=",
        ),
    ];
    for (i, (method, url, expected)) in cases.into_iter().enumerate() {
        let got = v3_signature(method, url, &params, V3_NONCE, V3_TOKEN);
        assert_eq!(got, expected, "vector #{}", i + 1);
        assert!(verify_v3(
            method, url, &params, V3_NONCE, expected, V3_TOKEN
        ));
        let multi = format!("bogus=,{expected}");
        assert!(verify_v3(method, url, &params, V3_NONCE, &multi, V3_TOKEN));
    }
}

#[test]
fn v3_signed_string_matches_the_spec() {
    let expected = "https://plivobin.non-prod.plivops.com/api/v1/validate_signature03.xml?ALegRequestUUID=3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36&ALegUUID=3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36&BillRate=0.002&CallStatus=in-progress&CallUUID=3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36&Direction=outbound&Event=StartApp&From=19792014278&ParentAuthID=MANWVLYTK4ZWU1YTY4QA&RequestUUID=3e82ae9d-2c78-4d85-b1a4-6eae7dbafb36&SIP-H-To=<sip:PlivoSignature382029104058171078704104@52.9.11.55;transport=udp>;tag=1&SessionStart=2020-04-08 11:34:33.238707&To=sip:PlivoSignature382029104058171078704104@phone-qa.voice.plivodev.com";
    assert_eq!(
        v3_canonical_url("GET", V3_URL_PLAIN, &v3_params()),
        expected
    );
}

#[test]
fn v2_sdk_vectors() {
    let cases = [
        (
            "https://answer.url",
            "my_auth_token",
            "ehV3IKhLysWBxC1sy8INm0qGoQYdYsHwuoKjsX7FsXc=",
            true,
        ),
        (
            "https://answer.url",
            "my_auth_tokens",
            "ehV3IKhLysWBxC1sy8INm0qGoQYdYsHwuoKjsX7FsXc=",
            false,
        ),
        (
            "https://answer.url/",
            "my_auth_token",
            "do1CXv+k99A6+B+eTcyqbxWlezFIxJ/1vz72787r37g=",
            true,
        ),
        (
            "https://answer.url:8000",
            "my_auth_token",
            "Gm7Z7AGBmf5JpSHrtUmeofrGyA4xV0ZiV0rH8JPXWGU=",
            true,
        ),
    ];
    for (url, token, signature, expect) in cases {
        assert_eq!(
            verify_v2(url, "12345", signature, token),
            expect,
            "{url} {token}"
        );
        if expect {
            assert_eq!(v2_signature(url, "12345", token), signature);
        }
    }
}

#[test]
fn v2_ignores_query_and_accepts_multiple_signatures() {
    let sig = v2_signature("https://answer.url/", "12345", "my_auth_token");
    assert_eq!(
        v2_signature("https://answer.url/?a=b#frag", "12345", "my_auth_token"),
        sig
    );
    let header = format!("AAAA, {sig}");
    assert!(verify_v2(
        "https://answer.url/",
        "12345",
        &header,
        "my_auth_token"
    ));
    assert!(!verify_v2(
        "https://answer.url/",
        "12346",
        &header,
        "my_auth_token"
    ));
}

const D_TOKEN: &str = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcd";
const D_NONCE: &str = "05429567804466091622";

#[test]
fn derived_messaging_vectors() {
    let d1 = pairs(&[
        ("From", "14155550100"),
        ("To", "14155550101"),
        ("MessageUUID", "db3ce55a-7f1d-11e1-8ea7-1231380bc196"),
        ("Status", "delivered"),
        ("Type", "mms"),
        ("Units", "1"),
        ("TotalRate", "0.01600"),
        ("TotalAmount", "0.01600"),
        ("MCC", "310"),
        ("MNC", "004"),
        ("ErrorCode", "000"),
        ("MessageTime", "2024-08-21 18:28:49.244057"),
    ]);
    let d2 = pairs(&[
        ("MessageUUID", "db3ce55a-7f1d-11e1-8ea7-1231380bc196"),
        ("Status", "failed"),
        ("ErrorCode", "120"),
        ("From", "14155550100"),
        ("To", "14155550101"),
    ]);
    type Case = (
        &'static str,
        &'static str,
        Vec<(String, String)>,
        &'static str,
        &'static str,
    );
    let cases: [Case; 4] = [
        ("POST", "https://example.com/plivo/status", d1, "https://example.com/plivo/status?ErrorCode000From14155550100MCC310MNC004MessageTime2024-08-21 18:28:49.244057MessageUUIDdb3ce55a-7f1d-11e1-8ea7-1231380bc196StatusdeliveredTo14155550101TotalAmount0.01600TotalRate0.01600TypemmsUnits1", "0LAow5ljAKtyaQGRMT+wD4w1LAAMCarmH5pHHxy8dEc="),
        ("POST", "https://example.com/plivo/status?tenant=acme&b=2", d2, "https://example.com/plivo/status?b=2&tenant=acme.ErrorCode120From14155550100MessageUUIDdb3ce55a-7f1d-11e1-8ea7-1231380bc196StatusfailedTo14155550101", "zkqyi/QzVAWdG0AQPGO7Dz/i+WqtH7FkqYrMfgccp0E="),
        ("GET", "https://example.com/plivo/status?MessageUUID=db3ce55a-7f1d-11e1-8ea7-1231380bc196&Status=sent", vec![], "https://example.com/plivo/status?MessageUUID=db3ce55a-7f1d-11e1-8ea7-1231380bc196&Status=sent", "CNgHr1s2qshoRvzSg1hKnnoGWwBmAdLyu+KVodzWcb8="),
        ("POST", "https://example.com/plivo/status", vec![], "https://example.com/plivo/status", "aLTADA0FXaPfNxCAqUrVCptjlZWW/c7wO1H/xSLe9KY="),
    ];
    for (i, (method, url, params, canonical, expected)) in cases.into_iter().enumerate() {
        assert_eq!(
            v3_canonical_url(method, url, &params),
            canonical,
            "D{}",
            i + 1
        );
        assert_eq!(
            v3_signature(method, url, &params, D_NONCE, D_TOKEN),
            expected,
            "D{}",
            i + 1
        );
        assert!(verify_v3(method, url, &params, D_NONCE, expected, D_TOKEN));
    }
}

#[test]
fn get_params_merge_with_the_query_and_query_is_percent_decoded() {
    // A GET callback signed with separate params verifies against the final URL with no params.
    let params = pairs(&[("Status", "sent"), ("MessageUUID", "u 1")]);
    let sig = v3_signature("GET", "https://e.com/s?t=a%2Fb", &params, D_NONCE, D_TOKEN);
    let final_url = "https://e.com/s?t=a%2Fb&Status=sent&MessageUUID=u+1";
    assert!(verify_v3("GET", final_url, &[], D_NONCE, &sig, D_TOKEN));
    assert_eq!(
        v3_canonical_url("GET", final_url, &[]),
        "https://e.com/s?MessageUUID=u 1&Status=sent&t=a/b"
    );
}

#[test]
fn empty_values_and_repeated_keys_are_signed() {
    let with_empty = pairs(&[("Status", "queued"), ("ErrorCode", "")]);
    assert_eq!(
        v3_canonical_url("POST", "https://e.com/s", &with_empty),
        "https://e.com/s?ErrorCodeStatusqueued"
    );
    let without = pairs(&[("Status", "queued")]);
    let sig = v3_signature("POST", "https://e.com/s", &with_empty, D_NONCE, D_TOKEN);
    assert!(!verify_v3(
        "POST",
        "https://e.com/s",
        &without,
        D_NONCE,
        &sig,
        D_TOKEN
    ));

    let repeated = pairs(&[("k", "b"), ("k", "a"), ("A", "z")]);
    assert_eq!(
        v3_canonical_url("POST", "https://e.com/s", &repeated),
        "https://e.com/s?Azkakb"
    );
}

#[test]
fn tampering_fails() {
    let params = pairs(&[("Status", "delivered"), ("ErrorCode", "000")]);
    let url = "https://example.com/plivo/status";
    let sig = v3_signature("POST", url, &params, D_NONCE, D_TOKEN);
    assert!(verify_v3("POST", url, &params, D_NONCE, &sig, D_TOKEN));
    let tampered = pairs(&[("Status", "delivered"), ("ErrorCode", "001")]);
    assert!(!verify_v3("POST", url, &tampered, D_NONCE, &sig, D_TOKEN));
    assert!(!verify_v3(
        "POST",
        url,
        &params,
        D_NONCE,
        &sig,
        "another-token"
    ));
    assert!(!verify_v3(
        "POST",
        url,
        &params,
        "05429567804466091623",
        &sig,
        D_TOKEN
    ));
    assert!(!verify_v3(
        "POST",
        "https://example.com/plivo/status/",
        &params,
        D_NONCE,
        &sig,
        D_TOKEN
    ));
    assert!(!verify_v3("POST", url, &params, D_NONCE, "", D_TOKEN));
    assert!(!verify_v3("POST", url, &params, D_NONCE, ",,", D_TOKEN));
}

#[test]
fn nonces_are_twenty_digits_and_fresh() {
    let a = new_nonce();
    assert_eq!(a.len(), 20);
    assert!(a.bytes().all(|b| b.is_ascii_digit()));
    assert_ne!(a, new_nonce());
}

proptest! {
    #[test]
    fn sign_then_verify_roundtrips(
        post in any::<bool>(),
        path in "[a-z/]{0,12}",
        params in proptest::collection::vec(("[A-Za-z]{1,8}", "[ -~]{0,12}"), 0..6),
        token in "[ -~]{1,40}",
        flip in any::<prop::sample::Index>(),
    ) {
        let method = if post { "POST" } else { "GET" };
        let url = format!("https://example.com/{path}");
        let nonce = new_nonce();
        let sig = v3_signature(method, &url, &params, &nonce, &token);
        prop_assert!(verify_v3(method, &url, &params, &nonce, &sig, &token));
        let v2 = v2_signature(&url, &nonce, &token);
        prop_assert!(verify_v2(&url, &nonce, &v2, &token));

        let mut bytes = sig.clone().into_bytes();
        let i = flip.index(bytes.len());
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let flipped = String::from_utf8_lossy(&bytes).into_owned();
        prop_assert!(!verify_v3(method, &url, &params, &nonce, &flipped, &token));
    }
}
