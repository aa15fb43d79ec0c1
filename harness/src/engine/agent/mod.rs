//! A kommune's steps, one file per kind. Each step is one event of the queue: it acts on
//! the endpoints as the kommune's people would, notes what happened in the kommune's
//! timeline, and schedules the kommune's next steps.
//!
//! - [`submit`]: a submission, whatever its channel: the IT faults that keep the kommune
//!   from the endpoint, then [`sendemodul`] (login and upload) or [`servicebus`] (an AMQP
//!   message and its AppRec); the file itself is the EPJ's [`export`].
//! - [`receipt`]: the contact looks for SSB's e-mail receipt.
//! - [`mail`]: postmottak forwards SSB's mail; the contact reads it and sets the filsluse
//!   password through the link.
//! - [`feedback`]: the contact downloads and opens the feedback zip, or asks SSB for it.
//! - [`corrections`]: sending again — after IT's fix, after a rejection — and the
//!   kommune's own corrections.

pub(crate) mod corrections;
pub(crate) mod export;
pub(crate) mod feedback;
pub(crate) mod mail;
pub(crate) mod receipt;
pub(crate) mod sendemodul;
pub(crate) mod servicebus;
pub(crate) mod submit;
