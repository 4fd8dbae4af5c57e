"""The workflow: from configuration files to every job Snakemake runs.

``config`` loads and validates a study (``schema.yaml`` plus the checks a schema cannot express); ``plan``
turns it into jobs (``jobs``), each with the spec it runs and a ``codehash`` of the code it runs;
``captions`` and ``costs`` describe the jobs; ``profiles`` installs the SLURM profile; ``joblog`` ends each
job's log with what happened.
"""
