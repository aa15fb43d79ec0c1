//! The integration tests of this crate, one binary (linking once) with a module per
//! behaviour: the domain: ids, municipalities, calendar, messages, rules, the schema corpus.

mod bad_input;
mod calendar;
mod compare;
mod content_rules;
mod differential;
mod ids;
mod msghead;
mod municipality;
