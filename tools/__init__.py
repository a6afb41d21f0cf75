"""Developer tools for flymq (benchmarks, maintenance); not part of the installed package."""
