"""`python -m bench` (`make bench`): every benchmark in turn, each printing its table."""

import sys

from bench import cache, convert, transports

for name, module in (("convert", convert), ("cache", cache), ("transports", transports)):
    print(f"\n## bench.{name}\n", flush=True)
    sys.argv = [f"bench.{name}"]
    module.main()
