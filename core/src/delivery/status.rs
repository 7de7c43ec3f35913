//! What an intake's answer means for a payload (`spec/intake.md` §1.1),
//! and where a redirect may lead.
//!
//! * 2xx: delivered.
//! * 307 and 308 (the only redirects that keep the method and body): the
//!   same POST is sent to `Location`, at most [`MAX_REDIRECTS`] hops, never
//!   from `https` to `http`.
//! * 400, 403 and 413: a failure; the payload is dropped and counted (the
//!   Agent forwarder's only dropped statuses).
//! * Any other status above 400 (401, 404, 407, 408, 429, 5xx, …):
//!   retried, as the Agent does (it retries 404 on purpose: a proxy or a
//!   region may answer it for a while).
//! * Anything else (1xx, other 3xx): a failure.

/// Redirect hops followed for one attempt (Go's client, which the Agent
/// uses, stops after 10).
pub const MAX_REDIRECTS: u32 = 10;

/// What to do after an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Delivered.
    Sent,
    /// Send the same request to the `Location` (307/308).
    Redirect,
    /// Keep the payload and try again later.
    Retry,
    /// Drop the payload.
    Fail(FailReason),
}

/// Why a payload was given up on; one label of the failure counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailReason {
    /// A status that is dropped: 400, 403, 413 (or a 1xx).
    Status,
    /// A 3xx other than 307/308, which would turn the POST into a GET.
    Redirect,
    /// More than [`MAX_REDIRECTS`] hops.
    RedirectLoop,
    /// A redirect from `https` to `http`.
    RedirectDowngrade,
    /// A 307/308 without a usable `Location`.
    RedirectInvalid,
    /// Dropped from the full retry queue (oldest first) with no store.
    QueueFull,
    /// Dropped from the full disk store (oldest first).
    StoreFull,
    /// Still pending when the forwarder stopped, with no store.
    Shutdown,
    /// The request could not be built or the stored file not written.
    Internal,
}

impl FailReason {
    /// Every reason, for rendering counters.
    pub const ALL: [Self; 9] = [
        Self::Status,
        Self::Redirect,
        Self::RedirectLoop,
        Self::RedirectDowngrade,
        Self::RedirectInvalid,
        Self::QueueFull,
        Self::StoreFull,
        Self::Shutdown,
        Self::Internal,
    ];

    /// The label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Status => "status",
            Self::Redirect => "redirect",
            Self::RedirectLoop => "redirect_loop",
            Self::RedirectDowngrade => "redirect_downgrade",
            Self::RedirectInvalid => "redirect_invalid",
            Self::QueueFull => "queue_full",
            Self::StoreFull => "store_full",
            Self::Shutdown => "shutdown",
            Self::Internal => "internal",
        }
    }
}

/// Classifies an HTTP status.
pub const fn classify(status: u16) -> Verdict {
    match status {
        200..=299 => Verdict::Sent,
        307 | 308 => Verdict::Redirect,
        300..=399 => Verdict::Fail(FailReason::Redirect),
        400 | 403 | 413 => Verdict::Fail(FailReason::Status),
        401.. => Verdict::Retry,
        _ => Verdict::Fail(FailReason::Status),
    }
}

/// Where a 307/308 from `current` (an absolute `http(s)://` URL) with
/// header `location` leads: an absolute URL, a scheme-relative `//host/…`
/// or an absolute path on the same origin. `hops` is how many redirects
/// this attempt has already followed.
pub fn follow(current: &str, location: Option<&str>, hops: u32) -> Result<String, FailReason> {
    if hops >= MAX_REDIRECTS {
        return Err(FailReason::RedirectLoop);
    }
    let location = location
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .ok_or(FailReason::RedirectInvalid)?;
    let (scheme, rest) = current
        .split_once("://")
        .ok_or(FailReason::RedirectInvalid)?;
    let next = if let Some((s, _)) = location.split_once("://") {
        let s = s.to_ascii_lowercase();
        if s != "http" && s != "https" {
            return Err(FailReason::RedirectInvalid);
        }
        location.to_string()
    } else if let Some(auth) = location.strip_prefix("//") {
        format!("{scheme}://{auth}")
    } else if location.starts_with('/') {
        let origin = rest.split(['/', '?', '#']).next().unwrap_or(rest);
        format!("{scheme}://{origin}{location}")
    } else {
        // Relative references other than absolute paths have no use for
        // an intake; refusing them beats guessing.
        return Err(FailReason::RedirectInvalid);
    };
    if scheme.eq_ignore_ascii_case("https")
        && next
            .get(..5)
            .is_some_and(|p| p.eq_ignore_ascii_case("http:"))
    {
        return Err(FailReason::RedirectDowngrade);
    }
    if next.contains(char::is_whitespace)
        || next.split_once("://").is_none_or(|(_, r)| r.is_empty())
    {
        return Err(FailReason::RedirectInvalid);
    }
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_are_classified() {
        for s in [200, 202, 204] {
            assert_eq!(classify(s), Verdict::Sent, "{s}");
        }
        for s in [307, 308] {
            assert_eq!(classify(s), Verdict::Redirect, "{s}");
        }
        for s in [300, 301, 302, 303, 304] {
            assert_eq!(classify(s), Verdict::Fail(FailReason::Redirect), "{s}");
        }
        for s in [401, 404, 407, 408, 429, 500, 502, 503, 504] {
            assert_eq!(classify(s), Verdict::Retry, "{s}");
        }
        for s in [100, 400, 403, 413] {
            assert_eq!(classify(s), Verdict::Fail(FailReason::Status), "{s}");
        }
    }

    #[test]
    fn redirects_resolve() {
        let cur = "http://a:1/api/v2/series";
        assert_eq!(
            follow(cur, Some("http://b:2/x"), 0).unwrap(),
            "http://b:2/x"
        );
        assert_eq!(follow(cur, Some("/y?z=1"), 0).unwrap(), "http://a:1/y?z=1");
        assert_eq!(follow(cur, Some("//c/p"), 0).unwrap(), "http://c/p");
        assert_eq!(
            follow("https://a/p", Some("https://b/p"), 3).unwrap(),
            "https://b/p"
        );
        assert_eq!(
            follow("http://a/p", Some("https://b/p"), 0).unwrap(),
            "https://b/p"
        );
    }

    #[test]
    fn bad_redirects_fail_with_a_reason() {
        let cur = "https://a/p";
        assert_eq!(
            follow(cur, Some("http://b/p"), 0),
            Err(FailReason::RedirectDowngrade)
        );
        assert_eq!(
            follow(cur, Some("HTTP://b/p"), 0),
            Err(FailReason::RedirectDowngrade)
        );
        assert_eq!(follow(cur, None, 0), Err(FailReason::RedirectInvalid));
        assert_eq!(follow(cur, Some("  "), 0), Err(FailReason::RedirectInvalid));
        assert_eq!(
            follow(cur, Some("ftp://b/p"), 0),
            Err(FailReason::RedirectInvalid)
        );
        assert_eq!(
            follow(cur, Some("other"), 0),
            Err(FailReason::RedirectInvalid)
        );
        assert_eq!(
            follow(cur, Some("https://"), 0),
            Err(FailReason::RedirectInvalid)
        );
        assert_eq!(
            follow(cur, Some("https://b/p"), MAX_REDIRECTS),
            Err(FailReason::RedirectLoop)
        );
    }
}
