#!/usr/bin/env -S node --max-old-space-size=512
// The explicit heap limit is generous for what larkcode retains (< 160 MiB at 1,000 active
// scopes) but makes V8 collect its garbage instead of growing towards the machine's default
// limit: ~256 MiB peak RSS under bench:core instead of ~440 MiB.
import '../dist/src/cli/main.js';
