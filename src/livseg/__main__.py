import sys

from livseg.cli import main

sys.exit(main())
