//! One MMS ready to hand to Plivo.

use super::{Media, MessageText, PhoneNumber};

/// A checked MMS: who gets it, its optional text and its media.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundMms {
    /// The recipient.
    pub to: PhoneNumber,
    /// The text, if any.
    pub text: Option<MessageText>,
    /// The attachments.
    pub media: Media,
}
