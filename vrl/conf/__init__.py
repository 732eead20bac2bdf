"""vrl's config tree (Hydra): shipped inside the package, so `python -m vrl` runs from a wheel.

Add your own config groups or options with `hydra.searchpath=[file:///path/to/your/conf]`.
"""
