//! Types that cross a process boundary in ticketflow.
//!
//! Everything here is plain data with serde derives: the loader produces [`Ticket`]s, the
//! coordinator writes them into shard files, and every stage reads them back. Keeping these types
//! in one small crate means a worker and the coordinator can never disagree on a field name.

mod ticket;

pub use ticket::Ticket;
