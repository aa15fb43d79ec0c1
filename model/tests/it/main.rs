//! The integration tests of this crate, one binary (linking once) with a module per
//! behaviour: the domain: ids, municipalities, calendar, messages, rules, the schema corpus.

mod bad_input;
mod calendar;
mod compare;
mod differential;
mod content_rules;
mod ids;
mod msghead;
mod municipality;
