//! Fixed blur filters: finding them ([`detect`](mod@detect)), separating a folded-in
//! BatchNorm from them ([`affine`]), and moving them out of the way
//! ([`rewrite`]: fold, commute, forward fold; [`share`]: one blur for the two
//! branches of a downsampling block). The algebra lives in [`crate::kernel`].

pub mod affine;
pub mod detect;
pub mod region;
pub mod rewrite;
pub mod share;

pub use detect::{detect, BlurSite, Family, Neighbour, PadMode, Rejected};
pub use rewrite::{Rewrite, Strategy};
