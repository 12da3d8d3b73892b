//! `shopfloor model …` tools that need more than the engine: the Q&A
//! evaluation of variants, the any-plant evaluation against the naive peer,
//! and the engine-knob tuning.

pub mod any_plant;
pub mod evaluate;
pub mod profile_edit;
pub mod tune;
