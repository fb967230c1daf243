//! Media to attach: `http`/`https` URLs Plivo fetches, and ids of media uploaded to Plivo.

use std::fmt;

use url::Url;

/// The most media items (URLs and ids together) one MMS may carry.
pub const MAX_MEDIA: usize = 10;
/// The longest media URL accepted.
pub const MAX_URL_LEN: usize = 2048;
/// The longest media id accepted (Plivo's are 36-character UUIDs).
pub const MAX_MEDIA_ID_LEN: usize = 64;

/// Why a string is not a [`MediaUrl`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaUrlError {
    /// Not an absolute URL.
    #[error("{0:?} is not an absolute URL")]
    NotAUrl(String),
    /// A scheme other than http or https.
    #[error("{0:?} must use http or https")]
    Scheme(String),
    /// No host, or credentials in the URL.
    #[error("{0:?} must name a host and carry no user name or password")]
    Host(String),
    /// Longer than `MAX_URL_LEN` (2,048 characters) as normalized and sent to Plivo.
    #[error("a media URL is longer than {MAX_URL_LEN} characters")]
    TooLong,
}

/// An absolute `http`/`https` URL with a host, from which Plivo fetches an attachment.
#[derive(Clone, PartialEq, Eq)]
pub struct MediaUrl(Url);

impl MediaUrl {
    /// Parses and checks a media URL.
    pub fn parse(input: &str) -> Result<Self, MediaUrlError> {
        // A first, loose bound keeps parsing cheap; the limit itself applies to the URL as
        // normalized and sent to Plivo (`é` becomes `%C3%A9`, dot segments go).
        if input.len() > 4 * MAX_URL_LEN {
            return Err(MediaUrlError::TooLong);
        }
        let shown = || input.chars().take(80).collect::<String>();
        let url = Url::parse(input).map_err(|_| MediaUrlError::NotAUrl(shown()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(MediaUrlError::Scheme(shown()));
        }
        if url.host_str().is_none_or(str::is_empty)
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(MediaUrlError::Host(shown()));
        }
        if url.as_str().len() > MAX_URL_LEN {
            return Err(MediaUrlError::TooLong);
        }
        Ok(Self(url))
    }

    /// The URL as a string.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The parsed URL.
    pub fn url(&self) -> &Url {
        &self.0
    }
}

impl AsRef<str> for MediaUrl {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for MediaUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MediaUrl({})", self.0)
    }
}

/// Why a string is not a [`MediaId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a media id must be 1 to {MAX_MEDIA_ID_LEN} letters, digits, '-' or '_'")]
pub struct MediaIdError;

/// The id of a file uploaded through Plivo's Media API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaId(String);

impl MediaId {
    /// Checks the id's form.
    pub fn parse(input: &str) -> Result<Self, MediaIdError> {
        let ok = (1..=MAX_MEDIA_ID_LEN).contains(&input.len())
            && input
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(input.to_owned()))
        } else {
            Err(MediaIdError)
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for MediaId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

/// Why a set of media is not a [`Media`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// No URL and no id.
    #[error("an MMS needs at least one media item: give mediaUrl, mediaUrls or mediaIds")]
    Empty,
    /// More than [`MAX_MEDIA`] items.
    #[error("an MMS carries at most {MAX_MEDIA} media items; this request has {0}")]
    TooMany(usize),
}

/// The attachments of one MMS: 1 to [`MAX_MEDIA`] URLs and ids together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    urls: Vec<MediaUrl>,
    ids: Vec<MediaId>,
}

impl Media {
    /// Checks the count of items.
    pub fn new(urls: Vec<MediaUrl>, ids: Vec<MediaId>) -> Result<Self, MediaError> {
        match urls.len() + ids.len() {
            0 => Err(MediaError::Empty),
            n if n > MAX_MEDIA => Err(MediaError::TooMany(n)),
            _ => Ok(Self { urls, ids }),
        }
    }

    /// The media URLs, in the order given.
    pub fn urls(&self) -> &[MediaUrl] {
        &self.urls
    }

    /// The media ids, in the order given.
    pub fn ids(&self) -> &[MediaId] {
        &self.ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    type Check = fn(&MediaUrlError) -> bool;

    // --- hardening: the limit counts what is sent ---
    #[test]
    fn the_length_limit_counts_the_url_as_sent() {
        // 2,040 bytes as given, 6,080 characters once percent-encoded.
        let wide = format!("https://example.com/{}", "é".repeat(1010));
        assert!(wide.len() <= MAX_URL_LEN);
        assert_eq!(MediaUrl::parse(&wide), Err(MediaUrlError::TooLong));
        // Over 2,048 bytes as given, 21 characters once the dot segments are gone.
        let dotted = format!("https://example.com/{}x", "./".repeat(1100));
        assert!(dotted.len() > MAX_URL_LEN);
        assert_eq!(
            MediaUrl::parse(&dotted).map(|u| u.as_str().to_owned()),
            Ok("https://example.com/x".to_owned())
        );
        let exact = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN - 20));
        assert!(MediaUrl::parse(&exact).is_ok());
        assert_eq!(
            MediaUrl::parse(&format!("{exact}b")),
            Err(MediaUrlError::TooLong)
        );
    }

    #[test]
    fn media_urls() {
        for ok in [
            "https://example.com/cat.gif",
            "http://example.com:8080/a/b.png?x=1",
            "https://127.0.0.1/a.jpg",
        ] {
            assert_eq!(MediaUrl::parse(ok).unwrap().as_str(), ok);
        }
        let cases: [(&str, Check); 7] = [
            ("", |e| matches!(e, MediaUrlError::NotAUrl(_))),
            ("/relative.gif", |e| matches!(e, MediaUrlError::NotAUrl(_))),
            ("ftp://example.com/a.gif", |e| {
                matches!(e, MediaUrlError::Scheme(_))
            }),
            ("javascript:alert(1)", |e| {
                matches!(e, MediaUrlError::Scheme(_))
            }),
            ("file:///etc/passwd", |e| {
                matches!(e, MediaUrlError::Scheme(_))
            }),
            ("https://user:pw@example.com/a.gif", |e| {
                matches!(e, MediaUrlError::Host(_))
            }),
            ("http://", |e| {
                matches!(e, MediaUrlError::Host(_) | MediaUrlError::NotAUrl(_))
            }),
        ];
        for (input, check) in cases {
            let err = MediaUrl::parse(input).unwrap_err();
            assert!(check(&err), "{input:?} gave {err:?}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(MediaUrl::parse(&long), Err(MediaUrlError::TooLong));
    }

    #[test]
    fn media_ids() {
        assert!(MediaId::parse("801c2056-33ab-499c-80ef-58b574a462a2").is_ok());
        for bad in ["", "a b", "x/y", &"a".repeat(MAX_MEDIA_ID_LEN + 1)] {
            assert_eq!(MediaId::parse(bad), Err(MediaIdError), "{bad:?}");
        }
    }

    #[test]
    fn media_counts() {
        let url = MediaUrl::parse("https://e.com/a.jpg").unwrap();
        let id = MediaId::parse("abc").unwrap();
        assert_eq!(Media::new(vec![], vec![]), Err(MediaError::Empty));
        assert!(Media::new(vec![url.clone()], vec![]).is_ok());
        assert!(Media::new(vec![], vec![id.clone()]).is_ok());
        assert!(Media::new(vec![url.clone(); 5], vec![id.clone(); 5]).is_ok());
        assert_eq!(
            Media::new(vec![url; 6], vec![id; 5]),
            Err(MediaError::TooMany(11))
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_keeps_scheme(s in "\\PC{0,100}") {
            if let Ok(u) = MediaUrl::parse(&s) {
                prop_assert!(matches!(u.url().scheme(), "http" | "https"));
            }
        }
    }
}
