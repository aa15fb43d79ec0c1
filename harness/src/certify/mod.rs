//! Vendor certification (issue #7): the test plan, the session directory, the transport
//! session (`certify run`) and the harness's own reference EPJ (`certify vendor`).

pub mod judge;
pub mod perf;
pub mod phases;
pub mod plan;
pub mod record;
pub mod run;
pub mod session;
pub mod vendor;
