"""Pure rules of soldout: no I/O, no framework, no SQL."""
