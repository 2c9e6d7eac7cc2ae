"""Monte Carlo over forecast uncertainty on Dask: run, chunk, store, report; sensitivity grids."""
