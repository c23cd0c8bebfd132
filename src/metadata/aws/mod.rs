//! AWS EC2: the IMDS fetch client and the parser of its metadata tree.
pub mod parse;
