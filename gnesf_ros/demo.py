"""`python -m gnesf_ros.demo` (what `make demo` runs): the demo's CLI lives in gnesf_ros/cli/demo.py."""
import sys

from gnesf_ros.cli.demo import main

if __name__ == "__main__":
    sys.exit(main())
