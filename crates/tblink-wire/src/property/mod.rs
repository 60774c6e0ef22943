//! XDomain property blocks (spec 03).
