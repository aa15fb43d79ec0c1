//! Vendor certification (issue #7): the test plan, the session directory, the transport
//! session (`certify run`), the harness's own reference EPJ (`certify vendor`) and the
//! signed report (`certify verify`).

pub mod facts;
pub mod guide;
pub mod judge;
pub mod perf;
pub mod phases;
pub mod plan;
pub mod record;
pub mod run;
pub mod session;
pub mod vendor;
pub mod verify;
