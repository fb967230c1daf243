//! Opaque list cursors: the sort key (creation time, id) of the last message of a page.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

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
        URL_SAFE_NO_PAD.encode(format!("{}:{}", self.created_at_micros, self.id))
    }

    /// Reads a cursor produced by [`Cursor::encode`]; anything else is [`StoreError::InvalidCursor`].
    pub(crate) fn decode(text: &str) -> Result<Cursor, StoreError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| StoreError::InvalidCursor)?;
        let text = String::from_utf8(bytes).map_err(|_| StoreError::InvalidCursor)?;
        let (micros, id) = text.split_once(':').ok_or(StoreError::InvalidCursor)?;
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
        for text in ["", "!!", "bm9jb2xvbg", "eDp5", "MTI6"] {
            assert!(
                matches!(Cursor::decode(text), Err(StoreError::InvalidCursor)),
                "{text}"
            );
        }
    }
}
