"""The mode catalog: one module per mode family; each registers its modes with `@mode` at import."""
