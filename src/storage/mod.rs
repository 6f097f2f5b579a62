//! Reading the registry's own storage, to see what garbage collection would free. [`s3`] is
//! the S3 driver's client (the scanner and the filesystem driver live beside it).

pub mod s3;
