import sys

from grading.selftest import main

sys.exit(main())
