//! Payload members a consumer of events never reads.

/// A payload member a consumer never reads (`loupe_formats::ReadOptions::unread_payload`):
/// readers may leave it out of [`Event::data`](crate::Event) instead of
/// building it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnreadMember {
    /// The member's key in [`Event::data`](crate::Event).
    pub member: &'static str,
    /// Only in events of this kind (its canonical name, `tool_start`), or
    /// in events of every kind.
    pub kind: Option<&'static str>,
}

impl UnreadMember {
    /// `member`, in events of every kind.
    pub const fn everywhere(member: &'static str) -> UnreadMember {
        UnreadMember { member, kind: None }
    }

    /// `member`, in events of kind `kind` only.
    pub const fn in_kind(kind: &'static str, member: &'static str) -> UnreadMember {
        UnreadMember {
            member,
            kind: Some(kind),
        }
    }
}
