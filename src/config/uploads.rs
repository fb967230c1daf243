//! `MAX_UPLOAD_BYTES`: the body limit of multipart requests (`POST /media`, multipart
//! `POST /send-mms`); every other body keeps the 64 KiB limit.

use super::{ranged, ConfigError};

/// The default `MAX_UPLOAD_BYTES`: 21 MiB, ten files of 2 MB with room for the form around them.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 22_020_096;

/// The settings of file uploads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadConfig {
    /// `MAX_UPLOAD_BYTES`: the most a multipart body may hold, in bytes.
    pub max_upload_bytes: u64,
}

impl Default for UploadConfig {
    fn default() -> Self {
        Self {
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
        }
    }
}

impl UploadConfig {
    /// Reads `MAX_UPLOAD_BYTES` through `get` (which already drops empty values).
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            max_upload_bytes: ranged(
                get,
                "MAX_UPLOAD_BYTES",
                DEFAULT_MAX_UPLOAD_BYTES,
                1024..=1_073_741_824,
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(value: Option<&str>) -> Result<UploadConfig, ConfigError> {
        let value = value.map(str::to_owned);
        UploadConfig::from_lookup(&|name| {
            (name == "MAX_UPLOAD_BYTES")
                .then(|| value.clone())
                .flatten()
        })
    }

    #[test]
    fn default_and_bounds() {
        assert_eq!(read(None).unwrap().max_upload_bytes, 22_020_096);
        assert_eq!(read(Some("5000000")).unwrap().max_upload_bytes, 5_000_000);
        for bad in ["0", "1023", "x", "-1", "1073741825"] {
            let e = read(Some(bad)).unwrap_err().to_string();
            assert!(e.starts_with("MAX_UPLOAD_BYTES "), "{e}");
        }
    }
}
