//! Domain types: values that can only exist once checked ("parse, don't validate").

// --- hardening: numbers masked in text ---
mod masked_text;
mod media;
mod message_text;
mod outbound;
mod phone_number;

pub use media::{Media, MediaError, MediaId, MediaIdError, MediaUrl, MediaUrlError, MAX_MEDIA};
pub use message_text::{MessageText, MessageTextError, MAX_TEXT_CHARS};
pub use outbound::{parse_media, parse_recipient, FieldError, OutboundMms, RawMms};
pub(crate) use phone_number::parse_e164;
pub use phone_number::{mask, normalize_number, PhoneNumber, PhoneNumberError};
// --- hardening: numbers masked in text ---
pub use masked_text::mask_numbers;
