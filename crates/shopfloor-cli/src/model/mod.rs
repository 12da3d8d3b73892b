//! `shopfloor model …` tools that need more than the engine: the Q&A
//! evaluation of variants and the engine-knob tuning.

pub mod evaluate;
pub mod profile_edit;
pub mod tune;
