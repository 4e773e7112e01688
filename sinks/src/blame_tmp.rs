// TEMPORARY until the sinks branch lands.
use crate::SinkError;
use itscam_types::{Blame, Blamed};
impl Blamed for SinkError {
    fn blame(&self) -> Blame {
        match self {
            SinkError::InvalidLake { .. } => Blame::User,
            SinkError::Encode { .. } => Blame::Bug,
            _ => Blame::External,
        }
    }
}
