"""Model spec, layer registry, building, analysis and code generation (Qt-free)."""
