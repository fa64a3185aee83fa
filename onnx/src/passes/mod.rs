//! Graph passes that prepare a model for the blur rewrites and clean up after them.
//! Each pass takes the graph, changes it in place and says what it did.

pub mod const_fold;
pub mod cse;
pub mod dce;
pub mod fold_bn;
