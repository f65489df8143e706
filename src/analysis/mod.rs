//! What the stored runs say: the runs folded into figures (`rollup`, with run times in
//! `histogram`), the time-saved estimate and the HTML report. Reads values the store hands
//! it; writes nothing.
//!
//! May import: `outcome`, `timestamp`.

pub mod histogram;
pub mod report;
pub mod rollup;
pub mod savings;
pub mod stats;
pub mod tallies;
