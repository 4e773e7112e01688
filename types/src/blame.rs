//! Who is to blame for an error: every library crate's error enum says it in code, so the CLI
//! and the HTTP layer can answer without reading the message (user → 4xx, external → 502/503,
//! bug → 500 "this is a bug").

use std::time::Duration;

/// Who caused a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Blame {
    /// Bad input: a config, a request, a URL, a data line. Retrying the same thing fails again.
    User,
    /// A system outside the engine (storage, broker, camera, model runtime) failed or refused;
    /// retrying later may work.
    External,
    /// The engine itself is wrong: an invariant broke. The message says "this is a bug".
    Bug,
}

impl Blame {
    /// `user`, `external`, `bug`.
    pub fn as_str(self) -> &'static str {
        match self {
            Blame::User => "user",
            Blame::External => "external",
            Blame::Bug => "bug",
        }
    }
}

/// An error that knows who is to blame.
pub trait Blamed: std::error::Error {
    /// Who caused it.
    fn blame(&self) -> Blame;

    /// How long to wait before retrying, where a retry may help (external failures only).
    fn retry_after(&self) -> Option<Duration> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("storage down")]
    struct Down;

    impl Blamed for Down {
        fn blame(&self) -> Blame {
            Blame::External
        }
        fn retry_after(&self) -> Option<Duration> {
            Some(Duration::from_secs(1))
        }
    }

    #[test]
    fn an_error_says_who_is_to_blame_and_when_to_retry() {
        let e: &dyn Blamed = &Down;
        assert_eq!((e.blame().as_str(), e.retry_after()), ("external", Some(Duration::from_secs(1))));
    }
}
