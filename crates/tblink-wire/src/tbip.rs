//! ThunderboltIP control messages and data frame header (spec 06).
