"""Put the load model's table (make bench) between BENCHMARKS.md's onboarding markers."""

import sys

BEGIN, END = "<!-- onboarding:begin -->", "<!-- onboarding:end -->"


def main(table_file: str, benchmarks: str) -> None:
    table = open(table_file).read()
    if not table.strip():
        sys.exit("the load model printed no table (see .bench/run/onboarding.log)")
    text = open(benchmarks).read()
    head, rest = text.split(BEGIN, 1)
    open(benchmarks, "w").write(head + BEGIN + "\n" + table + rest[rest.index(END):])


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
