import sys

from grading.student.make import main

sys.exit(main())
