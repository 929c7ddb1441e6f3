"""The student version's older command, kept one release: ``python -m grading.student`` replaces it."""
import runpy, sys  # noqa: E401
if __name__ == "__main__":
    print("python -m grading.make_student is now python -m grading.student", file=sys.stderr)
    runpy.run_module("grading.student", run_name="__main__", alter_sys=True)
