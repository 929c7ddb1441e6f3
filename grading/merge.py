"""Join the results of shards into one: ``python -m grading.merge results-1 ... results-N --out results``.

Each shard is a results folder written by ``python -m grading.grade SUBMISSIONS --shard K/N --out results-K``; its
records (``records/*.json``) are joined and every output is made again from them (grading.outputs.publish), so the joined
``grades.csv``, pages, feedback and summary are those of one run over all the submissions. A submission found in two
shards is an error that names it (which of its records is right is not guessed)."""

import argparse
import sys
from pathlib import Path

from grading import assignment as assignment_option
from grading.assignment import load as load_assignment
from grading.outputs import publish, results, store
from grading.text import clean


def join(folders):
    """{name: record} of every shard; ValueError naming a folder without records or a name found twice."""
    joined, seen = {}, {}
    for folder in folders:
        found = store.load(folder)
        if not found:
            raise ValueError(f"{folder} holds no records/*.json: is it the --out of a grading.grade run?")
        for name, record in found.items():
            if name in joined:
                raise ValueError(f"{name} is in both {seen[name]} and {folder}: grade each share once "
                                 "(--shard K/N with the same N) or remove one of the two records")
            joined[name], seen[name] = record, folder
    return joined


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("shards", nargs="+", help="the results folders of the shards")
    parser.add_argument("--out", default="results", help="folder for the joined results (default: results)")
    parser.add_argument("--written-scores", help="the instructor's CSV of written scores to merge")
    assignment_option.add_option(parser)
    publish.add_options(parser)
    args = parser.parse_args(argv)
    out = Path(args.out)
    if any(Path(s).resolve() == out.resolve() for s in args.shards):
        parser.error("--out must be a new folder, not one of the shards")
    try:
        assignment = load_assignment(assignment_option.folder_from(args, "grading.merge"))
        if args.late_penalty is not None and not 0 <= args.late_penalty <= 1:
            raise ValueError(f"--late-penalty {args.late_penalty}: expected a fraction between 0 and 1")
        inputs = [("--written-scores", args.written_scores), ("--gradebook", args.gradebook)]
        store.refuse_inputs_in_outputs(out, inputs + [("a shard", s) for s in args.shards], assignment)
        records = join(args.shards)
        scores = results.read_written_scores(args.written_scores, set(records), assignment) if args.written_scores else {}
        book = (publish.read_gradebook(args.gradebook, args.column, assignment, args.scale_to)
                if args.gradebook else None)
    except ValueError as error:
        parser.exit(2, f"grading.merge: {clean(error, newlines=False)}\n")
    for record in records.values():
        store.save(out, record)
    store.remove_except(out, records)
    written = store.merge_written(out, records, scores)  # the scores each shard's records hold, and the new ones
    options = {"late_penalty": args.late_penalty}  # each record keeps the limits it was graded with (its conditions)
    rows, messages = publish.write(out, list(records.values()), written, options, book, assignment=assignment)
    for message in messages:
        print(clean(message, newlines=False))
    print(f"{len(rows)} submissions from {len(args.shards)} shards in {out / 'grades.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
