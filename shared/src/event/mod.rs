//! What comes in: the OCSF finding model (`finding`), the cluster it names (`cluster`), the
//! exposure traits it carries (`exposure`), and the gate that parses the EventBridge event and
//! turns it into an `Exposure` a function acts on, or a reason to skip it (`gate`).

pub mod cluster;
pub mod exposure;
pub mod finding;
pub mod gate;
