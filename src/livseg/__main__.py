import sys

from livseg.cli import main

if __name__ == "__main__":  # not when a child process of the web app imports it
    sys.exit(main())
