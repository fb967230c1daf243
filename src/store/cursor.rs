//! Opaque list cursors: the sort key (creation time, id) of the last message of a page, with a
//! check value so that a cursor this service did not give out is refused rather than read as a
//! position.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::StoreError;

/// Where the next page starts: strictly after this (created_at, id) in newest-first order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cursor {
    pub(crate) created_at_micros: i64,
    pub(crate) id: String,
}

impl Cursor {
    /// The text handed to callers (URL-safe base64, no padding).
    pub(crate) fn encode(&self) -> String {
        let key = format!("{}:{}", self.created_at_micros, self.id);
        URL_SAFE_NO_PAD.encode(format!("{key}#{}", check(&key)))
    }

    /// Reads a cursor produced by [`Cursor::encode`]; anything else is [`StoreError::InvalidCursor`].
    pub(crate) fn decode(text: &str) -> Result<Cursor, StoreError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| StoreError::InvalidCursor)?;
        let text = String::from_utf8(bytes).map_err(|_| StoreError::InvalidCursor)?;
        let (key, given) = text.rsplit_once('#').ok_or(StoreError::InvalidCursor)?;
        if given != check(key) {
            return Err(StoreError::InvalidCursor);
        }
        let (micros, id) = key.split_once(':').ok_or(StoreError::InvalidCursor)?;
        let created_at_micros = micros.parse().map_err(|_| StoreError::InvalidCursor)?;
        if id.is_empty() {
            return Err(StoreError::InvalidCursor);
        }
        Ok(Cursor {
            created_at_micros,
            id: id.to_owned(),
        })
    }
}

/// 12 hex digits of a hash of the key: a made-up cursor passes by chance once in 2^48.
fn check(key: &str) -> String {
    let digest = Sha256::digest(format!("mms-gateway cursor:{key}").as_bytes());
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_ids_with_colons() {
        let cursor = Cursor {
            created_at_micros: -5,
            id: "a:b".to_owned(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()).ok(), Some(cursor));
    }

    #[test]
    fn rejects_garbage() {
        let made_up = URL_SAFE_NO_PAD.encode("1700000000000000:abc");
        let tampered = URL_SAFE_NO_PAD.encode(
            String::from_utf8(
                URL_SAFE_NO_PAD
                    .decode(
                        Cursor {
                            created_at_micros: 5,
                            id: "a".into(),
                        }
                        .encode(),
                    )
                    .unwrap(),
            )
            .unwrap()
            .replacen('5', "6", 1),
        );
        for text in ["", "!!", "bm9jb2xvbg", "eDp5", "MTI6", &made_up, &tampered] {
            assert!(
                matches!(Cursor::decode(text), Err(StoreError::InvalidCursor)),
                "{text}"
            );
        }
    }
}
