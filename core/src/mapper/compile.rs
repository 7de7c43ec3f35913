//! Validation of `dogstatsd_mapper_profiles` and compilation of each
//! mapping into an anchored regex plus parsed templates (spec §8.2, §8.3).

use regex_lite::{Regex, RegexBuilder};

use super::re2;
use super::template::{Groups, Template};
use super::wildcard::Wildcard;
use super::{MapperError, Mapping};
use crate::config::{MapperProfileConfig, MappingConfig};

/// `match_type` value for wildcard patterns (also the default).
const MATCH_TYPE_WILDCARD: &str = "wildcard";
/// `match_type` value for regex patterns.
const MATCH_TYPE_REGEX: &str = "regex";

/// Nesting allowed to regex-lite (its default is 50); the Go-syntax front
/// end already bounds the nesting of what it emits.
pub(crate) const NEST_LIMIT: u32 = 1000;

/// A profile ready for matching.
#[derive(Debug)]
pub(crate) struct Profile {
    /// `None` for the `*` prefix, which accepts every name.
    prefix: Option<Box<[u8]>>,
    mappings: Box<[CompiledMapping]>,
}

impl Profile {
    /// Whether this profile is the one to try for `name`.
    pub(crate) fn applies_to(&self, name: &[u8]) -> bool {
        match &self.prefix {
            None => true,
            Some(prefix) => name.starts_with(prefix),
        }
    }

    /// Whether this profile can apply to a name starting with `first`
    /// (`None`: the empty name).
    pub(crate) fn may_apply_to_first_byte(&self, first: Option<u8>) -> bool {
        match &self.prefix {
            None => true,
            Some(prefix) => prefix.first().copied() == first,
        }
    }

    /// The first mapping of this profile that matches `name`, expanded.
    pub(crate) fn map(&self, name: &str) -> Option<Mapping> {
        self.mappings.iter().find_map(|mapping| mapping.apply(name))
    }
}

/// One mapping rule: the anchored regex and the templates to expand.
#[derive(Debug)]
struct CompiledMapping {
    /// The anchored regex the Agent would build.
    regex: Regex,
    /// For wildcard patterns, the equivalent direct matcher used instead
    /// of the regex.
    wildcard: Option<Wildcard>,
    /// Literal text any match starts with (the regex is anchored by `\A`).
    required_prefix: Box<str>,
    /// Literal text any match ends with (anchored by `\z`).
    required_suffix: Box<str>,
    name: Template,
    /// Tag key with its `:` already appended, and the value template.
    tags: Box<[(Box<str>, Template)]>,
}

impl CompiledMapping {
    fn apply(&self, name: &str) -> Option<Mapping> {
        // Exact necessary conditions, far cheaper than running the regex.
        if name.len() < self.required_prefix.len().max(self.required_suffix.len())
            || !name.starts_with(&*self.required_prefix)
            || !name.ends_with(&*self.required_suffix)
        {
            return None;
        }
        match &self.wildcard {
            Some(wildcard) => {
                let stars = wildcard.captures(name);
                #[cfg(debug_assertions)]
                self.check_against_regex(name, stars.as_deref());
                Some(self.expand(&WildcardGroups {
                    whole: name,
                    stars: stars?,
                }))
            }
            None => Some(self.expand(&self.regex.captures(name)?)),
        }
    }

    /// Debug builds: the wildcard matcher must agree with the regex.
    #[cfg(debug_assertions)]
    fn check_against_regex(&self, name: &str, stars: Option<&[&str]>) {
        let captures = self.regex.captures(name);
        let from_regex = captures.as_ref().map(|c| {
            (1..c.len())
                .map(|i| c.group(i).unwrap_or(""))
                .collect::<Vec<_>>()
        });
        assert_eq!(from_regex.as_deref(), stars, "{name:?}");
    }

    fn expand<'h>(&self, captures: &impl Groups<'h>) -> Mapping {
        let tags = self
            .tags
            .iter()
            .map(|(key, value)| {
                let mut tag = String::with_capacity(key.len() + 16);
                tag.push_str(key);
                value.expand_into(captures, &mut tag);
                tag
            })
            .collect();
        Mapping {
            name: self.name.expand(captures),
            tags,
        }
    }
}

/// The groups of a wildcard match: the whole name, then each star.
struct WildcardGroups<'h> {
    whole: &'h str,
    stars: Vec<&'h str>,
}

impl<'h> Groups<'h> for WildcardGroups<'h> {
    fn group(&self, index: usize) -> Option<&'h str> {
        match index {
            0 => Some(self.whole),
            i => self.stars.get(i - 1).copied(),
        }
    }
}

/// Validates and compiles all profiles; the first error aborts, checked in
/// profile order, then mapping order, as the Agent does.
pub(crate) fn compile(profiles: &[MapperProfileConfig]) -> Result<Vec<Profile>, MapperError> {
    profiles
        .iter()
        .enumerate()
        .map(|(index, profile)| compile_profile(index, profile))
        .collect()
}

fn compile_profile(index: usize, config: &MapperProfileConfig) -> Result<Profile, MapperError> {
    if config.name.is_empty() {
        return Err(MapperError::MissingProfileName { index });
    }
    if config.prefix.is_empty() {
        return Err(MapperError::MissingPrefix {
            index,
            profile: config.name.clone(),
        });
    }
    let mappings = config
        .mappings
        .iter()
        .enumerate()
        .map(|(mapping, m)| {
            compile_mapping(m).map_err(|kind| MapperError::Mapping {
                profile_index: index,
                profile: config.name.clone(),
                mapping,
                kind,
            })
        })
        .collect::<Result<_, _>>()?;
    let prefix = (config.prefix != "*").then(|| config.prefix.as_bytes().into());
    Ok(Profile { prefix, mappings })
}

/// What is wrong with one mapping (wrapped with its position by the caller).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MappingErrorKind {
    /// `match_type` is neither `wildcard` nor `regex` (nor empty).
    #[error("invalid match type `{0}`, must be `wildcard` or `regex`")]
    InvalidMatchType(String),
    /// `name` is empty.
    #[error("name is required")]
    MissingName,
    /// `match` is empty.
    #[error("match is required")]
    MissingMatch,
    /// A wildcard pattern holds a character outside `[a-zA-Z0-9\-_*.]`.
    #[error(
        "invalid wildcard match pattern `{0}`, it does not match allowed match regex `^[a-zA-Z0-9\\-_*.]+$`"
    )]
    WildcardCharacters(String),
    /// A wildcard pattern holds `**`.
    #[error("invalid wildcard match pattern `{0}`, it should not contain consecutive `*`")]
    WildcardConsecutiveStars(String),
    /// The anchored pattern is not a valid regex.
    #[error("invalid match `{pattern}`, cannot compile regex: {reason}")]
    Regex {
        /// The pattern as given (wildcards already translated).
        pattern: String,
        /// The regex engine's explanation.
        reason: String,
    },
}

fn compile_mapping(config: &MappingConfig) -> Result<CompiledMapping, MappingErrorKind> {
    let match_type = if config.match_type.is_empty() {
        MATCH_TYPE_WILDCARD
    } else {
        config.match_type.as_str()
    };
    if match_type != MATCH_TYPE_WILDCARD && match_type != MATCH_TYPE_REGEX {
        return Err(MappingErrorKind::InvalidMatchType(
            config.match_type.clone(),
        ));
    }
    if config.name.is_empty() {
        return Err(MappingErrorKind::MissingName);
    }
    if config.pattern.is_empty() {
        return Err(MappingErrorKind::MissingMatch);
    }
    let mut wildcard = None;
    let pattern = if match_type == MATCH_TYPE_WILDCARD {
        let pattern = &config.pattern;
        if !pattern
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'*' | b'.'))
        {
            return Err(MappingErrorKind::WildcardCharacters(pattern.clone()));
        }
        if pattern.as_bytes().windows(2).any(|w| w == b"**") {
            return Err(MappingErrorKind::WildcardConsecutiveStars(pattern.clone()));
        }
        wildcard = Some(Wildcard::new(pattern));
        wildcard_to_regex(pattern)
    } else {
        config.pattern.clone()
    };
    // Plain concatenation, as the Agent does: `a|b` becomes `^a|b$`. The
    // result is read with Go's syntax rules and re-emitted as the
    // equivalent regex-lite pattern.
    let anchored = format!("^{pattern}$");
    let compiled = re2::translate(&anchored).and_then(|translated| {
        RegexBuilder::new(&translated.pattern)
            .nest_limit(NEST_LIMIT)
            .build()
            .map(|regex| (regex, translated))
            .map_err(|err| err.to_string())
    });
    let (regex, translated) =
        compiled.map_err(|reason| MappingErrorKind::Regex { pattern, reason })?;
    let names = translated.names;
    let name = Template::parse(&config.name, &names);
    let tags = config
        .tags
        .iter()
        .map(|(key, value)| (format!("{key}:").into(), Template::parse(value, &names)))
        .collect();
    Ok(CompiledMapping {
        regex,
        wildcard,
        required_prefix: translated.required_prefix.into(),
        required_suffix: translated.required_suffix.into(),
        name,
        tags,
    })
}

/// `.` becomes `\.` and `*` becomes `([^.]*)`: a star matches zero or more
/// characters and never crosses a dot.
pub(crate) fn wildcard_to_regex(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() * 2);
    for c in pattern.chars() {
        match c {
            '.' => out.push_str(r"\."),
            '*' => out.push_str("([^.]*)"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcard_translation() {
        assert_eq!(wildcard_to_regex("a.*.b-c_*"), r"a\.([^.]*)\.b-c_([^.]*)");
        assert_eq!(wildcard_to_regex("*"), "([^.]*)");
    }

    #[test]
    fn wildcard_affixes_are_its_literal_ends() {
        let t = re2::translate(&format!("^{}$", wildcard_to_regex("test.*.x*y.end"))).unwrap();
        assert_eq!(
            (&*t.required_prefix, &*t.required_suffix),
            ("test.", "y.end")
        );
        let t = re2::translate(&format!("^{}$", wildcard_to_regex("*"))).unwrap();
        assert_eq!((&*t.required_prefix, &*t.required_suffix), ("", ""));
    }
}
