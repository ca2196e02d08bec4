//! What goes out: the report (`report`), the SNS message rendered from it (`notify`), the
//! comment and status recorded on the finding (`record`), the decision log line and metrics
//! (`telemetry`), and the shell-quoted commands every message carries (`shell`).

pub mod chat;
pub mod notify;
pub mod record;
pub mod report;
pub mod shell;
pub mod telemetry;
