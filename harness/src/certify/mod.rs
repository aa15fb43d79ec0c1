//! Vendor certification (issue #7): the test plan.

pub mod plan;
