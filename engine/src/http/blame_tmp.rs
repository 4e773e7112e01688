// TEMPORARY until the sinks branch lands (it implements Blamed for HubError in alerts/hub.rs).
use crate::alerts::HubError;
use itscam_types::{Blame, Blamed};
impl Blamed for HubError {
    fn blame(&self) -> Blame {
        match self {
            HubError::Lake(e) => e.blame(),
            HubError::Stopped => Blame::External,
            _ => Blame::User,
        }
    }
}
