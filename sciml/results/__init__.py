"""Results: reading and writing result files under their data contract, and everything computed from them.

``store`` and ``contract`` read and write NetCDF files and check what each kind must hold; ``regimes``
labels a grid's cells; ``compare`` tests one strategy against a baseline cell by cell; ``robustness`` and
``guidance`` are the analyses of regime datasets; ``advise`` answers a user's question from them;
``reproduce`` checks a retrained cell against its file.
"""
