"""Training: from a cell's spec and data products to its trained seeds.

``train`` trains one grid cell (every seed); ``objective`` is the interface every problem implements and every
strategy and diagnostic uses; ``monitor`` records history and snapshots and stops diverged or stalled seeds;
``stepping`` is the step loop all strategies share; ``checkpoint`` saves and resumes a running cell;
``records`` holds what a seed produces and the cell dataset made of it; ``batched`` trains a cell's seeds
together as one vectorised model.
"""
