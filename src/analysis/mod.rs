//! What the stored runs say: the runs folded into figures (`rollup`, with run times in
//! `histogram`), the time-saved estimate and the HTML report. Reads values the store hands
//! it; writes nothing.
//!
//! May import: `store` (the values it reads), `outcome`, `numbers`, `timestamp`.

pub mod histogram;
pub mod report;
pub mod rollup;
pub mod savings;
pub mod stats;
pub mod tallies;
