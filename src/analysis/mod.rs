//! What the stored runs say: the time-saved estimate and the HTML report. Reads values the
//! store hands it; writes nothing.
//!
//! May import: `outcome`, `timestamp`.

pub mod report;
pub mod savings;
