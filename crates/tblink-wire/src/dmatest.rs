//! The DMA test service (spec 07): directory constants and frame layout.
