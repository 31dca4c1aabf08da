"""Run a command and print its peak resident memory: `python bench/peak.py CMD ...` (to stderr, MAXRSS_KB=N)."""

import resource
import subprocess
import sys

if __name__ == "__main__":
    rc = subprocess.call(sys.argv[1:])
    print(f"MAXRSS_KB={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}", file=sys.stderr)
    sys.exit(rc)
